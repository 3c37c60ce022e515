-- wrk script for bench/run.sh: POST a rotating set of report bodies (bench/data) with a
-- different X-Forwarded-For and a fresh client date-time on every request, count the answers
-- by status, and stop sending cleanly at the end of the measured window.
--
-- Arguments (after --): DATA_DIR WINDOW_SECONDS OK_STATUS
--   WINDOW_SECONDS: requests are sent only during this window; wrk's own -d must be a few
--     seconds longer, so every request sent is also answered and counted (wrk drops requests
--     still in flight when -d ends, which would make "200s == stored rows" unprovable).
--   OK_STATUS: 200 for pinwatch, 204 for the probe.
-- done() prints "BENCH key=value" lines that run.sh parses.

local ffi = require("ffi")
ffi.cdef [[
  struct bench_timespec { long tv_sec; long tv_nsec; };
  int clock_gettime(int clk, struct bench_timespec *ts);
]]
local ts = ffi.new("struct bench_timespec")
local function now()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
local next_id = 0

function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

local bodies = {}   -- {prefix, suffix}: the body around its date-time value
local ok_status, window, deadline, started
local sent, n = 0, 0
ok, other, last_answer = 0, 0, 0
statuses = ""

function init(args)
    local dir, win, status = args[1], tonumber(args[2]), tonumber(args[3])
    ok_status, window = status, win
    for name in io.lines(dir .. "/MANIFEST") do
        local f = assert(io.open(dir .. "/" .. name, "rb"))
        local text = f:read("*a")
        f:close()
        local s, e = text:find('"date-time": "', 1, true)
        assert(s, name .. ": no date-time")
        table.insert(bodies, {text:sub(1, e), text:sub(e + 21)}) -- value is 20 characters
    end
    started = now()
    deadline = started + window
end

function delay()
    -- After the window, park the connection for longer than wrk will still run.
    if now() >= deadline then
        return 3600 * 1000
    end
    return 0
end

local epoch = os.time() - 7 * 86400

function request()
    n = n + 1
    sent = sent + 1
    local b = bodies[(n + tid * 7) % #bodies + 1]
    -- A different client network (trusted proxy header) and a different body every time.
    local k = tid * 1000003 + n
    local xff = string.format("10.%d.%d.%d", k % 200, math.floor(k / 200) % 250, k % 250 + 1)
    local when = os.date("!%Y-%m-%dT%H:%M:%SZ", epoch + (k * 7919) % (7 * 86400))
    local body = b[1] .. when .. b[2]
    return "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n" ..
           "Content-Type: application/json\r\nUser-Agent: bench\r\n" ..
           "X-Forwarded-For: " .. xff .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

local counts = {}

function response(status, headers, body)
    if status == ok_status then
        ok = ok + 1
    else
        other = other + 1
        counts[status] = (counts[status] or 0) + 1
        statuses = ""
        for k, v in pairs(counts) do
            statuses = statuses .. k .. ":" .. v .. " "
        end
    end
    last_answer = now() - started
end

function done(summary, latency, requests)
    local total_ok, total_other, span, list = 0, 0, 0, ""
    for _, t in ipairs(threads) do
        total_ok = total_ok + t:get("ok")
        total_other = total_other + t:get("other")
        span = math.max(span, t:get("last_answer"))
        list = list .. t:get("statuses")
    end
    io.write(string.format("BENCH ok=%d\nBENCH other=%d\nBENCH span=%.3f\n", total_ok,
                           total_other, span))
    io.write(string.format("BENCH rate=%.1f\n", span > 0 and total_ok / span or 0))
    io.write(string.format("BENCH p50_ms=%.3f\nBENCH p90_ms=%.3f\nBENCH p99_ms=%.3f\n",
                           latency:percentile(50) / 1000, latency:percentile(90) / 1000,
                           latency:percentile(99) / 1000))
    io.write(string.format("BENCH max_ms=%.3f\n", latency.max / 1000))
    io.write(string.format("BENCH timeouts=%d\nBENCH sock_errors=%d\n", summary.errors.timeout,
                           summary.errors.connect + summary.errors.read + summary.errors.write))
    if list ~= "" then
        io.write("BENCH statuses=" .. list .. "\n")
    end
end
