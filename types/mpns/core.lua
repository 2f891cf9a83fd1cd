---@meta mpns.core
--- LuaCATS definitions of the C module `mpns.core` (csrc/l*.c) and of the
-- tables it returns, for lua-language-server: add this folder to
-- `Lua.workspace.library`. Nothing here runs; spec/types_spec.lua checks
-- that every function the module exports is declared here.
-- @module mpns.core
---@alias mpns.Kind "toast"|"tile"|"flip_tile"|"iconic_tile"|"cycle_tile"|"raw"|"callback"
---@alias mpns.OS "7.0"|"7.1"|"8.0"
---@alias mpns.Delay "immediate"|450|900
---@alias mpns.Outcome "received"|"queue_full"|"suppressed"|"dropped"|"bad_request"|"unauthorized"|"forbidden"|"expired"|"method_not_allowed"|"throttled"|"inactive"|"unavailable"|"unexpected"
---@alias mpns.ErrorKind "timeout"|"connect"|"dns"|"tls"|"protocol"|"closed"|"invalid_uri"
---@alias mpns.Text string|mpns.Clear
---@alias mpns.CountValue integer|mpns.Clear

--- The type of mpns.CLEAR: a tile property given it is emitted empty, with Action="Clear".
---@class mpns.Clear: userdata
local Clear = {}

---@class mpns.Common
---@field delay? mpns.Delay batching interval (X-NotificationClass)
---@field message_id? string a UUID, sent as X-MessageID and echoed back
local Common = {}

---@class mpns.ToastFields: mpns.Common
---@field text1? string
---@field text2? string
---@field param? string a relative page URI, 7.1+
---@field sound? string 8.0
---@field silent? boolean 8.0
local ToastFields = {}

---@class mpns.TileFields: mpns.Common
---@field id? string secondary tile navigation URI, 7.1+
---@field title? mpns.Text
---@field count? mpns.CountValue 0..99; 0 hides the badge
---@field background_image? mpns.Text
---@field back_title? mpns.Text 7.1+
---@field back_content? mpns.Text 7.1+
---@field back_background_image? mpns.Text 7.1+
local TileFields = {}

---@class mpns.FlipTileFields: mpns.TileFields
---@field small_background_image? mpns.Text
---@field wide_background_image? mpns.Text
---@field wide_back_background_image? mpns.Text
---@field wide_back_content? mpns.Text
local FlipTileFields = {}

---@class mpns.IconicTileFields: mpns.Common
---@field id? string
---@field title? mpns.Text
---@field count? mpns.CountValue
---@field icon_image? mpns.Text
---@field small_icon_image? mpns.Text
---@field wide_content1? mpns.Text
---@field wide_content2? mpns.Text
---@field wide_content3? mpns.Text
---@field background_color? mpns.Text "#AARRGGBB"
local IconicTileFields = {}

---@class mpns.CycleTileFields: mpns.Common
---@field id? string
---@field title? mpns.Text
---@field count? mpns.CountValue
---@field small_background_image? mpns.Text
---@field cycle_images? string[] at most 9 local images
local CycleTileFields = {}

---@class mpns.RawFields: mpns.Common
---@field data string any bytes
---@field content_type? string default "text/xml"
local RawFields = {}

--- A callback registration: send it to the channel URI + "/callback" over
--- an authenticated (client certificate) connection. No delay.
---@class mpns.CallbackFields
---@field uri string absolute http(s) URL MPNS POSTs `data` to, at most 1024 bytes
---@field data? string opaque bytes, at most 1024 (the body)
---@field message_id? string a UUID (X-MessageID)
local CallbackFields = {}

--- A built, validated message; immutable and cheap to send many times.
---@class mpns.Message
---@field kind mpns.Kind
---@field os mpns.OS "8.0" unless downgraded
local Message = {}

--- The exact bytes that are POSTed.
---@return string
function Message:body() end

--- Content-Type, X-WindowsPhone-Target, X-NotificationClass, X-MessageID.
---@return table<string, string>
function Message:headers() end

--- The same message for a device running `os`; nil and why when nothing
-- that device can show is left.
---@param os mpns.OS
---@return mpns.Message|nil msg
---@return string? reason
function Message:for_os(os) end

--- Sends on the default client (or the one for `opts`); blocks until done.
---@param uri string the channel URI
---@param opts? mpns.ClientOptions|{client: mpns.Client}
---@return mpns.Result|nil res
---@return mpns.SendError? err
function Message:send(uri, opts) end

--- Queues a send on the default client; `mpns.run()` delivers it.
---@param uri string the channel URI
---@param on_result fun(res: mpns.Result|nil, err: mpns.SendError?)
---@param on_error? fun(err: mpns.SendError)
---@return true
function Message:send_async(uri, on_result, on_error) end

--- What an MPNS answer means (mpns.parse_response; every send's result).
---@class mpns.Result
---@field status integer the HTTP status
---@field outcome mpns.Outcome
---@field ok boolean true only for "received"
---@field delete_channel boolean stop sending to this channel
---@field retry_after? integer seconds, where the protocol says to retry
---@field notification_status? string X-NotificationStatus
---@field device_connection_status? string X-DeviceConnectionStatus
---@field subscription_status? string X-SubscriptionStatus
---@field message_id? string X-MessageID
---@field uri? string the channel URI (sends only)
---@field attempts? integer tries made (sends only)
local Result = {}

--- A send that got no HTTP answer.
---@class mpns.SendError
---@field kind mpns.ErrorKind
---@field message string
---@field uri string
---@field attempts integer
---@field retry_after? number for the kinds worth retrying
local SendError = {}

---@class mpns.RetryOptions
---@field max_attempts? integer 3; 1 turns retries off
---@field base_delay? number seconds, 1
---@field max_delay? number seconds, 60
local RetryOptions = {}

---@class mpns.ClientOptions
---@field max_connections? integer 50: connections open and sends in flight
---@field max_per_host? integer
---@field timeout? number seconds a try, 15
---@field connect_timeout? number seconds, 10
---@field cert? string PEM file of the client certificate
---@field key? string PEM file of its key
---@field key_password? string
---@field ca? string PEM file of the CAs to trust
---@field verify? boolean true
---@field proxy? string
---@field user_agent? string
---@field retry? mpns.RetryOptions
local ClientOptions = {}

---@class mpns.ClientStats
---@field sent integer
---@field done integer
---@field retries integer
---@field connections integer connections opened
local ClientStats = {}

--- A libcurl delivery engine: connection reuse, limits, retries.
---@class mpns.Client
---@field on_callback_error? fun(err: any) receives errors raised by callbacks
local Client = {}

--- Blocks until this send is done.
---@param msg mpns.Message
---@param uri string
---@return mpns.Result|nil res
---@return mpns.SendError|string|nil err
function Client:send(msg, uri) end

--- Queues a send; exactly one of on_result / on_error runs, later. A
--- `ctx` (not nil) comes back as the callback's last argument, so one
--- callback serves many sends without a closure each.
---@param msg mpns.Message
---@param uri string
---@param on_result fun(res: mpns.Result|nil, err: mpns.SendError?, ctx: any)
---@param on_error? fun(err: mpns.SendError, ctx: any)
---@param ctx? any
---@return true
function Client:send_async(msg, uri, on_result, on_error, ctx) end

--- Runs the loop until nothing is pending.
---@return true|nil ok
---@return string? err "loop already running"
function Client:run() end

--- One bounded step; how many sends and timers are still pending.
---@param seconds? number 0 never blocks
---@return integer|nil pending
---@return string? err
function Client:step(seconds) end

--- fn() from the same loop, `seconds` from now.
---@param seconds number
---@param fn fun()
---@return true
function Client:after(seconds, fn) end

--- Every pending send gets on_error{ kind = "closed" }; idempotent.
function Client:close() end

---@return boolean
function Client:closed() end

---@return integer
function Client:pending() end

---@return mpns.ClientStats
function Client:stats() end

--- One fd that turns readable when the network has work.
---@return integer
function Client:fd() end

--- Seconds until the loop must step at the latest; nil when idle.
---@return number|nil
function Client:timeout() end

---@class mpns.core
local core = {}

---@type mpns.Clear
core.CLEAR = nil

---@type table methods every message has (mpns.client adds send, send_async)
core.message_methods = nil

---@param fields mpns.ToastFields
---@return mpns.Message
function core.toast(fields) end

---@param fields mpns.TileFields
---@return mpns.Message
function core.tile(fields) end

---@param fields mpns.FlipTileFields
---@return mpns.Message
function core.flip_tile(fields) end

---@param fields mpns.IconicTileFields
---@return mpns.Message
function core.iconic_tile(fields) end

---@param fields mpns.CycleTileFields
---@return mpns.Message
function core.cycle_tile(fields) end

---@param fields mpns.RawFields|string the fields, or the data alone
---@return mpns.Message
function core.raw(fields) end

--- Registers a callback: send it to `<channel URI>/callback`.
---@param fields mpns.CallbackFields
---@return mpns.Message
function core.callback(fields) end

--- An MPNS answer as advice; header names match case-insensitively.
---@param status integer
---@param headers table<string, string>
---@return mpns.Result
function core.parse_response(status, headers) end

--- Changes the size limits; returns the previous ones.
---@param limits {payload?: integer, headers?: integer}
---@return {payload: integer, headers: integer}
function core.set_limits(limits) end

--- The X-MessageID mpns.queue sends a job's message to one channel with: a
--- UUID (version 8) derived from both, the same every time.
---@param job_id string
---@param uri string
---@return string
function core.message_id(job_id, uri) end

--- A new libcurl client (the Lua face, mpns.client, wraps this one).
---@param opts? mpns.ClientOptions
---@return mpns.Client
function core.client(opts) end

--- Installs a handler for SIGTERM and SIGINT that only sets a flag (reset
--- after one signal: a second ends the process). For programs of one's own
--- such as bin/mpns-worker; never inside nginx, whose signals they are.
---@return true|nil ok
---@return string? err
function core.trap_signals() end

--- The signal trap_signals caught, if one arrived.
---@return "TERM"|"INT"|nil
function core.caught_signal() end

return core
