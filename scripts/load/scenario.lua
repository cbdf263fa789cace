-- One load scenario for wrk (`make load`, driven by scripts/load/run.py):
--   wrk -s scripts/load/scenario.lua <base url> -- <requests.lua>
-- <requests.lua> returns a list of {method=, path=, headers={...}, body=} that each connection cycles through.
-- At the end the summary (requests, errors by kind, statuses, latency percentiles in µs) is written as JSON to
-- the file named by the WRK_RESULT environment variable.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local specs = dofile(args[1])
  prepared = {}
  for i, spec in ipairs(specs) do
    prepared[i] = wrk.format(spec.method, spec.path, spec.headers, spec.body)
  end
  position = 0
  statuses = {}
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local function json_statuses()
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(totals) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("WRK_RESULT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "statuses": %s, "latency_us": {"p50": %d, "p95": %d, "p99": %d, ' ..
    '"mean": %.1f, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    json_statuses(), latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean,
    latency.max))
  out:close()
end
