-- The toasts the delivery benchmarks send: bench/delivery_send.lua (Lua 5.4
-- and LuaJIT), bench/resty_fanout.lua (inside nginx) and bench/delivery's
-- wrk script build the same ones; bench/node/send.js has a JS copy.
-- fields(mode, i) is the argument table of mpns.toast for send i:
--   same   one toast for every send (the old benchmark)
--   text1  text1 personalised: "Alice, your order 4711 shipped", i in it
--   text2  the same personalisation in text2
--   param  i in param ("/Order.xaml?id=4711&from=push")
local _M = {}

local NAMES = { "Alice", "Bob", "Chandra", "Dmitri", "Eve", "Fatima", "Grace" }
_M.MODES = { same = true, text1 = true, text2 = true, param = true }

---@param mode string
---@param i integer
---@return table
function _M.fields(mode, i)
  local t = { text1 = "Benchmark", text2 = "a toast & its text", param = "/Page.xaml?a=1&b=2" }
  if mode == "same" then return t end
  local who = NAMES[i % #NAMES + 1] .. ", your order " .. (4000 + i) .. " shipped"
  if mode == "text1" then t.text1 = who
  elseif mode == "text2" then t.text2 = who
  else t.param = "/Order.xaml?id=" .. (4000 + i) .. "&from=push" end
  return t
end

return _M
