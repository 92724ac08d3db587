-- wrk script for bench/server.bench.mjs: seat checkout + release cycles against a licadm server.
--
--   wrk -t64 -c64 -d5s -s bench/server-cycle.lua http://127.0.0.1:PORT -- LICENSE_ID TOKEN
--
-- Run with as many threads as connections: a thread then drives one connection, so its state is
-- that client's state and each client strictly alternates POST /v1/leases and DELETE
-- /v1/leases/:id, like the node:http load generator. A cycle's latency runs from sending the
-- checkout to receiving the release's answer (monotonic clock, through LuaJIT's FFI). done()
-- prints one JSON line: cycles, seconds, failures, the cycles' p50 and p99 and the single requests'
-- in ms. (wrk's own latency record is not used: it adds estimated values for requests a slow
-- answer held back, which suits a fixed-rate test, not this closed loop of 64 clients.)
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } licadm_timespec;
int clock_gettime(int clk_id, licadm_timespec *tp);
]]
local ts = ffi.new("licadm_timespec")
local CLOCK_MONOTONIC = 1
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local license, token = args[1], args[2]
  cycles, failures, lat, req_lat, requests = 0, 0, {}, {}, 0
  lease, started, sent = nil, 0, 0
  post_headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  delete_headers = {["Authorization"] = "Bearer " .. token}
  checkout_body = '{"license":"' .. license .. '","user":"bench' .. tid .. '","host":"loopback"}'
end

function request()
  sent = now_us()
  if lease then
    return wrk.format("DELETE", "/v1/leases/" .. lease, delete_headers, nil)
  end
  started = sent
  return wrk.format("POST", "/v1/leases", post_headers, checkout_body)
end

function response(status, headers, body)
  requests = requests + 1
  req_lat[requests] = now_us() - sent
  if lease then
    if status == 200 then
      cycles = cycles + 1
      lat[cycles] = now_us() - started
    else
      failures = failures + 1
    end
    lease = nil
  elseif status == 201 then
    -- The first "id" of a checkout answer is the lease's: {"ok":true,"result":{"lease":{"id":"…
    lease = string.match(body, '"id":"([^"]+)"')
    if not lease then failures = failures + 1 end
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local cycle_all, request_all, total, failed = {}, {}, 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("cycles")
    failed = failed + thread:get("failures")
    for _, v in ipairs(thread:get("lat")) do cycle_all[#cycle_all + 1] = v end
    for _, v in ipairs(thread:get("req_lat")) do request_all[#request_all + 1] = v end
  end
  table.sort(cycle_all)
  table.sort(request_all)
  local function pct(all, p)
    local n = #all
    if n == 0 then return -1 end
    return all[math.min(n, math.floor(p / 100 * n) + 1)] / 1000
  end
  local e = summary.errors
  io.write(string.format(
    '{"cycles":%d,"seconds":%.6f,"failures":%d,"requests":%d,"p50":%.3f,"p99":%.3f,"requestP50":%.3f,"requestP99":%.3f,"socketErrors":%d}\n',
    total, summary.duration / 1e6, failed, summary.requests, pct(cycle_all, 50), pct(cycle_all, 99), pct(request_all, 50), pct(request_all, 99),
    e.connect + e.read + e.write + e.timeout))
end
