-- wrk script of the scale-out scenario (bench/scaleout.py): rotates many sessions' cookies.
--
-- BENCH_WRK_COOKIES=COOKIE_FILE BENCH_WRK_OUT=OUT_FILE wrk -s bench/scaleout.lua URL
-- COOKIE_FILE: one Cookie header value a line; request i carries line i (round robin from a
-- random start per thread) and "X-Bench-Id: i". The app echoes the id with when the request
-- arrived and when it was answered (bench/scaleout_app.py), so per session this keeps: the
-- arrival and answer time of its last 200, its refusals (401, 302, 303) and when the first was
-- answered,
-- answers per server process, and 200s per second (by when they were answered). done() writes them with wrk's totals to OUT_FILE as JSON.

local cookies = {}

function init(args)
  for line in io.lines(os.getenv("BENCH_WRK_COOKIES")) do
    cookies[#cookies + 1] = line
  end
  math.randomseed(os.time() + #cookies)
  counter = math.random(#cookies) - 1
  last_in, last_out, bad, first_bad, by_pid, statuses, per_second = {}, {}, {}, {}, {}, {}, {}
end

function request()
  counter = counter % #cookies + 1
  return wrk.format("GET", nil, { ["Cookie"] = cookies[counter], ["X-Bench-Id"] = counter })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local id = tonumber(headers["x-bench-id"])
  local pid = headers["x-bench-pid"]
  if pid then
    by_pid[pid] = (by_pid[pid] or 0) + 1
  end
  if not id then
    return
  end
  local arrived = tonumber(headers["x-bench-in"])
  local answered = tonumber(headers["x-bench-out"])
  if status == 200 then
    local second = math.floor(answered)
    per_second[second] = (per_second[second] or 0) + 1
    if arrived > (last_in[id] or 0) then last_in[id] = arrived end
    if answered > (last_out[id] or 0) then last_out[id] = answered end
  elseif status == 401 or status == 302 or status == 303 then -- no session
    bad[id] = (bad[id] or 0) + 1
    if answered < (first_bad[id] or math.huge) then first_bad[id] = answered end
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function merge(into, from, pick)
  for k, v in pairs(from) do
    into[k] = into[k] and pick(into[k], v) or v
  end
end

local function add(a, b) return a + b end

local function json_map(map)
  local parts = {}
  for k, v in pairs(map) do
    parts[#parts + 1] = string.format('"%s": %.6f', tostring(k), v)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local li, lo, b, fb, bp, st, ps = {}, {}, {}, {}, {}, {}, {}
  for _, t in ipairs(threads) do
    merge(li, t:get("last_in"), math.max)
    merge(lo, t:get("last_out"), math.max)
    merge(b, t:get("bad"), add)
    merge(fb, t:get("first_bad"), math.min)
    merge(bp, t:get("by_pid"), add)
    merge(st, t:get("statuses"), add)
    merge(ps, t:get("per_second"), add)
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "last_in": %s, "last_out": %s, "bad": %s, "first_bad": %s, "by_pid": %s, '
      .. '"statuses": %s, "per_second": %s}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max,
    json_map(li), json_map(lo), json_map(b), json_map(fb), json_map(bp), json_map(st), json_map(ps)))
  out:close()
end
