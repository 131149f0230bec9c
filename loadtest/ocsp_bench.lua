-- wrk script for loadtest/ocsp_bench.sh: spreads requests over every
-- certificate of the workload, GET or POST, and prints one RESULT line.
--   wrk -s ocsp_bench.lua ... -- MODE FILE [START]
--   MODE get:  FILE has one request path per line
--   MODE post: FILE has fixed-size DER requests back to back; RECLEN is its
--              first line's length in a companion FILE.len
--   MODE static: FILE is one path, requested every time
local reqs, n, i = {}, 0, 0
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("tid", counter)
end

function init(args)
    local mode, file = args[1], args[2]
    if mode == "post" then
        local f = assert(io.open(file, "rb"))
        local data = f:read("*a")
        f:close()
        local lf = assert(io.open(file .. ".len"))
        local reclen = tonumber(lf:read("*l"))
        lf:close()
        local hdr = { ["Content-Type"] = "application/ocsp-request" }
        for off = 1, #data, reclen do
            n = n + 1
            reqs[n] = wrk.format("POST", "/ocsp", hdr,
                                 data:sub(off, off + reclen - 1))
        end
    else
        for line in io.lines(file) do
            n = n + 1
            reqs[n] = wrk.format("GET", line)
        end
    end
    -- threads start at different points, then walk every certificate
    i = ((tid or 1) * 7919 * 13) % n
end

function request()
    i = i + 1
    if i > n then i = 1 end
    return reqs[i]
end

function done(summary, latency, requests)
    io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d requests=%d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99),
        summary.errors.connect + summary.errors.read + summary.errors.write
            + summary.errors.timeout,
        summary.errors.status, summary.requests))
end
