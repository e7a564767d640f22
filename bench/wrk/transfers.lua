-- POST /transactions with Blnk's payload, for wrk (https://github.com/wg/wrk).
--
--   wrk -t2 -c64 -d40s --latency -s bench/wrk/transfers.lua http://127.0.0.1:5001 \
--       -- <balance ids file> <distinct|hot> <reference prefix> <seconds of posting>
--
-- distinct: every transfer moves between two different random balances of the file;
-- hot:      every transfer comes from the @Store indicator balance (one hot row).
-- References are unique per run (prefix), per thread and per request. Each thread counts the
-- answers by status; `done` prints one line "WRKJSON {...}" that bench/http_bench.py reads.
--
-- Every answer must be seen, so that the 201s can be compared with the rows written: after the
-- posting window (4th argument, seconds) a connection sends no more transfers but a GET /health
-- every 100 ms (wrk does not count the delay as latency), and a thread stops once all its
-- transfers are answered. The latency figures so include a few fast GETs (reported as
-- tail_gets). wrk's -d is only a safety limit.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      ids[#ids + 1] = line
    end
  end
  mode = args[2] or "distinct"
  prefix = (args[3] or "wrk") .. "-" .. index .. "-"
  stop_at = os.time() + tonumber(args[4] or "20")
  per_thread = tonumber(args[5] or "32")
  sent, answered, tail = 0, 0, 0
  -- wrk calls request() once in the first thread to check the script; that one is never sent
  checked = index ~= 1
  math.randomseed(os.time() * 1000 + index)
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function delay()
  if os.time() >= stop_at then
    return 100
  end
  return 0
end

function request()
  if os.time() >= stop_at then
    return wrk.format("GET", "/health")
  end
  if checked then
    sent = sent + 1
  end
  checked = true
  counter = counter + 1
  local n = #ids
  local source, destination
  if mode == "hot" then
    source = "@Store"
    destination = ids[math.random(n)]
  else
    local a = math.random(n)
    local b = math.random(n - 1)
    if b >= a then
      b = b + 1
    end
    source, destination = ids[a], ids[b]
  end
  local cents = math.random(1, 1000)
  local body = string.format(
    '{"amount":%d.%02d,"precision":100,"currency":"USD","reference":"%s%d",' ..
    '"description":"bench transfer","source":"%s","destination":"%s",' ..
    '"allow_overdraft":false,"skip_queue":true,"meta_data":{"channel":"bench"}}',
    math.floor(cents / 100), cents % 100, prefix, counter, source, destination)
  return wrk.format(nil, "/transactions", nil, body)
end

function response(status, headers, body)
  if status == 200 then
    -- a GET /health sent after the window
    tail = tail + 1
    if answered >= sent or tail >= 100 * per_thread then
      wrk.thread:stop()
    end
    return
  end
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if os.time() >= stop_at and answered >= sent then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counts = {}
  local unanswered, tails = 0, 0
  for _, thread in ipairs(threads) do
    unanswered = unanswered + thread:get("sent") - thread:get("answered")
    tails = tails + thread:get("tail")
    local seen = thread:get("statuses")
    for status, count in pairs(seen) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"statuses":{%s},"unanswered":%d,"tail_gets":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, table.concat(parts, ","), unanswered, tails,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
