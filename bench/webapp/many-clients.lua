-- wrk script: requests claim to come from CLIENTS distinct client addresses
-- (default 10000, in the 198.18.0.0/15 benchmarking range) in X-Forwarded-For,
-- as an ALB (a trusted proxy) reports them. THREADS must equal wrk's -t so the
-- threads take disjoint addresses: thread k sends k, k+T, k+2T, ...
local clients = tonumber(os.getenv("CLIENTS") or "10000")
local nthreads = tonumber(os.getenv("THREADS") or "1")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  n = 0
end

function request()
  local i = (n * nthreads + (id or 0)) % clients
  n = n + 1
  local ip = string.format("198.18.%d.%d", math.floor(i / 256), i % 256)
  return wrk.format("GET", "/", { ["X-Forwarded-For"] = ip })
end
