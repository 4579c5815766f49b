-- wrk script of `python -m bench e2e`: POST /v1/orders, a fresh Idempotency-Key per request.
-- Environment (set by bench/wrk_runner.py): SHOP_API_KEY, SHOP_USER_IDS (comma-separated),
-- SHOP_RUN_TAG (unique per wrk run, so keys never repeat across runs on one data dir).
-- Ends by printing one line "WRK_JSON {...}" with the figures the runner parses.

local api_key = os.getenv("SHOP_API_KEY") or ""
local run_tag = os.getenv("SHOP_RUN_TAG") or tostring(os.time())
local user_ids = {}
for id in string.gmatch(os.getenv("SHOP_USER_IDS") or "", "[^,]+") do
  user_ids[#user_ids + 1] = id
end

local skus = { "book", "lamp", "mug", "pen", "poster", "shirt" }
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local counter = 0

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

-- Keys are run tag + thread + counter: unique without relying on randomness.
function next_key()
  counter = counter + 1
  return string.format("wrk-%s-%d-%d", run_tag, thread_id or 0, counter)
end

function request()
  local user = user_ids[math.random(#user_ids)] or "missing-user"
  local items = {}
  for i = 1, math.random(1, 3) do
    items[i] = string.format('{"sku":"%s","quantity":%d,"unit_price_cents":%d}',
      skus[math.random(#skus)], math.random(1, 3), math.random(199, 4999))
  end
  local body = string.format('{"user_id":"%s","items":[%s],"currency":"EUR"}',
    user, table.concat(items, ","))
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = api_key,
    ["Idempotency-Key"] = next_key(),
  }
  return wrk.format("POST", "/v1/orders", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
