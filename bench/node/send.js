// Drives the Node.js `mpns` package (2.1.3, the library behind Azure Mobile
// Services) the way bench/delivery drives lua-mpns: the same toast to N
// distinct channel URIs PREFIX1..PREFIXN with CONCURRENCY sends in flight.
//   node send.js PREFIX N CONCURRENCY [CERT KEY CA]
// Prints: ok=<received> bad=<other> seconds=<wall time of the sends>
'use strict';
const fs = require('fs');
const mpns = require('mpns');

const [prefix, nArg, concArg, cert, key, ca] = process.argv.slice(2);
const n = Number(nArg), conc = Number(concArg);
const opts = { text1: 'Benchmark', text2: 'a toast & its text', param: '/Page.xaml?a=1&b=2' };
if (cert) {
  opts.cert = fs.readFileSync(cert);
  opts.key = fs.readFileSync(key);
  opts.ca = fs.readFileSync(ca);
}

let started = 0, done = 0, ok = 0, bad = 0;
const t0 = process.hrtime.bigint();

function finish() {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`ok=${ok} bad=${bad} seconds=${secs.toFixed(3)}`);
}

// Starts the next send; each completion starts one more, so `conc` stay
// in flight until all n are done.
function next() {
  if (started >= n) return;
  started++;
  mpns.sendToast(prefix + started, opts, (err, res) => {
    if (!err && res && res.notificationStatus === 'Received') ok++; else bad++;
    if (++done === n) finish(); else next();
  });
}

for (let i = 0; i < conc; i++) next();
