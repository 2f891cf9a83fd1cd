--- spec/queue_check.lua: what the crash suite and bench/queue.lua share:
-- bin/mpns-worker processes, the job's progress in Redis, and the delivery
-- guarantee checked against the emulator's per-channel notification lists.
local cjson = require "cjson"
local proc = require "proc"
local queue = require "mpns.queue"

local C = {}

--- Starts one bin/mpns-worker; opts: lua (the interpreter), concurrency,
--- visibility, log (file for its stderr), root (the checkout whose worker
--- runs, "."). Returns its PID.
function C.start_worker(server, name, prefix, opts)
  local cmd = table.concat({ opts.lua or "luajit", (opts.root or ".") .. "/bin/mpns-worker", "--redis", server.url,
    "--group", "g", "--consumer", name, "--concurrency", opts.concurrency or 16,
    "--visibility", opts.visibility or 2, "--prefix", prefix, "--allow-host", "127.0.0.1:*",
    "--status", "log" }, " ")
  return tonumber(proc.sh(cmd .. " >/dev/null 2>>" .. (opts.log or "/dev/null")
    .. " & echo $!"):match("%d+"))
end

--- Channel URIs tag-1 .. tag-n of the emulator `e`.
function C.uris(e, tag, n)
  local out = {}
  for i = 1, n do out[i] = e.http_prefix .. tag .. "-" .. i end
  return out
end

--- Message ids each channel received (one curl process, keep-alive).
function C.received(e, tag, n)
  local cfg = os.tmpname()
  local f = assert(io.open(cfg, "w"))
  for i = 1, n do f:write('url = "', e.control, "channels/", tag, "-", i, '"\n') end
  f:close()
  local out = proc.sh("curl -s -K " .. cfg .. " -w '\\n'")
  os.remove(cfg)
  local got = {}
  for line in out:gmatch("[^\n]+") do
    local ch = cjson.decode(line)
    if ch.id then
      got[ch.id] = {}
      for _, note in ipairs(ch.notifications) do got[ch.id][#got[ch.id] + 1] = note.message_id end
    end
  end
  return got
end

--- Polls the job's outcome count until pred(done) or `secs` pass
--- (every opts.poll seconds, 0.05).
function C.wait_done(server, q, id, pred, secs, opts)
  local t0 = proc.uptime()
  repeat
    local done = tonumber(server:cli("HLEN", q.k.out(id)))
    if pred(done) then return done end
    os.execute("sleep " .. (opts and opts.poll or 0.05))
  until proc.uptime() - t0 > secs
  return tonumber(server:cli("HLEN", q.k.out(id)))
end

--- The guarantee, measured, for a job whose URIs are `parts` one after
--- the other ({ e = emulator, tag =, n = } each: tag-1 .. tag-n there):
--- done (channels with an outcome), counted (sum of outcome counts),
--- missing (channels that received nothing), twins (received more than
--- once), wrong_ids (a notification whose X-MessageID is not the job's for
--- that channel), evicted (state or notification lists the emulators had
--- to forget for room: the lists would be misread), and the job's summary.
function C.delivery(q, id, parts)
  local s = q:summary(id)
  local r = { done = s.done, counted = 0, missing = 0, twins = 0, wrong_ids = 0, evicted = 0, summary = s }
  for _, v in pairs(s.outcomes) do r.counted = r.counted + v end
  local seen = {}
  for _, part in ipairs(parts) do
    if not seen[part.e] then
      seen[part.e] = true
      local st = part.e:stats()
      r.evicted = r.evicted + (st.state_evicted or 0) + (st.notes_evicted or 0)
    end
    local got, list = C.received(part.e, part.tag, part.n), C.uris(part.e, part.tag, part.n)
    for i = 1, part.n do
      local ids = got[part.tag .. "-" .. i] or {}
      if #ids == 0 then r.missing = r.missing + 1 end
      if #ids > 1 then r.twins = r.twins + 1 end
      for _, mid in ipairs(ids) do
        if mid ~= queue.message_id(id, list[i]) then r.wrong_ids = r.wrong_ids + 1 end
      end
    end
  end
  return r
end

return C
