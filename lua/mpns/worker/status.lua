--- mpns.worker.status: what a worker tells its operator. Progress per job
-- (done / total from Redis, so it counts every worker, and the rate) once a
-- second: one line rewritten in place on a terminal, else structured
-- `key=value` log lines; events (start, stop, redis_error, registry_error) as log lines.
local M = {}
local S = {}
S.__index = S

local function isatty()
  local ok, unistd = pcall(require, "posix.unistd")
  if ok and unistd.isatty then return unistd.isatty(2) == 1 end
  return os.execute("test -t 2") == true or os.execute("test -t 2") == 0
end

--- mode: "auto" (terminal: status line, else log lines), "line", "log", "none".
---@param w table the worker
---@param mode string
---@param log function|nil log(line); stderr by default
function M.new(w, mode, log)
  if mode == "auto" then mode = isatty() and "line" or "log" end
  return setmetatable({ w = w, mode = mode, out = log or function(l) io.stderr:write(l, "\n") end,
    last = {}, next_at = 0 }, S)
end

local function kv(fields)
  local keys, out = {}, {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = tostring(fields[k])
    out[#out + 1] = k .. "=" .. (v:find("[%s\"=]") and ("%q"):format(v) or v)
  end
  return table.concat(out, " ")
end

--- One structured line: time, event, fields.
function S:log(event, fields)
  if self.mode == "none" then return end
  if self.mode == "line" and self.shown then io.stderr:write("\n"); self.shown = false end
  self.out(os.date("!%Y-%m-%dT%H:%M:%SZ") .. " event=" .. event .. " " .. kv(fields or {}))
end

-- done / total of every job this worker has seen, read from Redis.
function S:progress()
  local w, cmds, ids = self.w, {}, {}
  for id, j in pairs(w.jobs) do ids[#ids + 1] = j; cmds[#cmds + 1] = { "HLEN", w.k.out(id) } end
  local res = w.c:pipeline(cmds)
  if not res then return {} end
  for i, j in ipairs(ids) do j.done = res[i] end
  return ids
end

--- Progress, at most once a second (or now, with `final`).
function S:tick(t, final)
  if self.mode == "none" or (t < self.next_at and not final) then return end
  local dt = t - (self.at or t)
  self.next_at, self.at = t + 1, t
  local parts = {}
  for _, j in ipairs(self:progress()) do
    local rate = dt > 0 and (j.done - (self.last[j.id] or j.done)) / dt or 0
    self.last[j.id] = j.done
    if self.mode == "line" then
      parts[#parts + 1] = ("%s %d/%d %.0f/s"):format(j.id, j.done, j.total, rate)
    elseif rate > 0 or final or j.done < j.total then
      self:log("progress", { job = j.id, done = j.done, total = j.total, rate = ("%.0f"):format(rate),
        inflight = self.w.inflight })
    end
  end
  if self.mode == "line" and #parts > 0 then
    io.stderr:write("\r\27[K", table.concat(parts, "  "), " inflight=", self.w.inflight)
    self.shown = true
  end
end

return M
