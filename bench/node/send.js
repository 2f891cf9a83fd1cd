// Drives the Node.js `mpns` package (2.1.3, the library behind Azure Mobile
// Services) the way bench/delivery drives lua-mpns: N toasts to the distinct
// channel URIs PREFIX1..PREFIXN with CONCURRENCY sends in flight, each toast
// built as bench/toasts.lua builds it for MODE (same, text1, text2, param).
//   node send.js PREFIX N CONCURRENCY MODE [CERT KEY CA]
// Prints: ok=<received> bad=<other> seconds=<wall time of the sends>
'use strict';
const fs = require('fs');
const mpns = require('mpns');

const [prefix, nArg, concArg, mode, cert, key, ca] = process.argv.slice(2);
const n = Number(nArg), conc = Number(concArg);
const tls = cert ? { cert: fs.readFileSync(cert), key: fs.readFileSync(key),
  ca: fs.readFileSync(ca) } : {};
const NAMES = ['Alice', 'Bob', 'Chandra', 'Dmitri', 'Eve', 'Fatima', 'Grace'];

// The options of send i: bench/toasts.lua's fields(mode, i).
function fields(i) {
  const t = { text1: 'Benchmark', text2: 'a toast & its text', param: '/Page.xaml?a=1&b=2', ...tls };
  if (mode === 'same') return t;
  const who = `${NAMES[i % NAMES.length]}, your order ${4000 + i} shipped`;
  if (mode === 'text1') t.text1 = who;
  else if (mode === 'text2') t.text2 = who;
  else t.param = `/Order.xaml?id=${4000 + i}&from=push`;
  return t;
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
  mpns.sendToast(prefix + started, fields(started), (err, res) => {
    if (!err && res && res.notificationStatus === 'Received') ok++; else bad++;
    if (++done === n) finish(); else next();
  });
}

for (let i = 0; i < conc; i++) next();
