#!/usr/bin/env bash
# OCSP responder benchmark (issues 3 and 10).  Not a test.
#
#   loadtest/ocsp_bench.sh [N] [SECONDS]    (default 100000 certificates, 10 s)
#   PERF_OUT=DIR loadtest/ocsp_bench.sh ...  also profiles the server: with 2
#       workers, `perf stat` (cycles, instructions, cache misses) of the
#       workers over every warm row into DIR/stat-ROW-MODE.txt, and
#       `perf record -g` of the warm GET and POST rows into DIR/*.data (the
#       last slice's); perf's own cost then falls on the figures: measure
#       without PERF_OUT
#
# One workload: N certificates (10% revoked) imported with `revoca import`
# and signed by revoca-signer into a fresh Redis; requests with SHA-1
# CertIDs spread over all N serials (wrk + loadtest/ocsp_bench.lua), GET
# (base64 in the path) and POST.  Measured one after the other, first with
# one server process (nginx worker_processes 1, GOMAXPROCS=1) on its own
# core, then with two on both cores (the client then shares one of them):
#   1. ngx_http_revoca_module, warm shared cache (every response cached)
#   2. ngx_http_revoca_module, cache off (every request goes to Redis)
#   3. nginx serving a static file of the same size (GET of one file), from
#      the same nginx as 1, and as 2, with the same settings, its rows
#      interleaved with theirs (ROUNDS slices each)
#   4. cfssl ocspserve (Debian golang-cfssl) with the same signed responses
# The responses for 3 and 4 are fetched through the module (one GET per
# certificate, each checked to be a successful OCSPResponse), never read
# from Redis' stored format.  Prints, for every row, throughput, p50/p99
# latency, the server's CPU time per request beside the static file's, and
# ratios.  Everything listens on free 127.0.0.1 ports and is stopped at exit.
set -euo pipefail

N=${1:-100000}
DUR=${2:-10}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
MODULE=$BUILD/ngx_module/ngx_http_revoca_module.so
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-ocsp-bench.XXXXXX)
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(port)
wait_port() {  # PORT: up to 20 s
    local i
    for i in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

for x in "$BUILD/responder/revoca-signer" "$BUILD/feeds/revoca" "$MODULE"; do
    [[ -e $x ]] || { echo "missing $x: build first (deploy/dev build)" >&2; exit 1; }
done
for x in wrk cfssl redis-server /usr/sbin/nginx; do
    command -v "$x" >/dev/null || { echo "missing $x (deploy/dev.d/20-nginx.sh packages)" >&2; exit 1; }
done

echo "== workload: $N certificates, 10% revoked"
$PY "$ROOT/deploy/demo_pki.py" "$TMP/pki" >/dev/null
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP" --appendonly no \
    --save "" --daemonize yes --logfile "$TMP/redis.log"
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done

bench_conf "$RPORT" "$TMP/revoca.conf"

bench_index "$N" "$TMP/index.txt"
"$BUILD/feeds/revoca" -c "$TMP/revoca.conf" import --issuer bench \
    --openssl-index "$TMP/index.txt" >/dev/null
"$BUILD/responder/revoca-signer" -c "$TMP/revoca.conf" >"$TMP/signer.log" 2>&1 &
SIGNER=$!
PIDS+=("$SIGNER")
echo "   signing with revoca-signer..."
until [[ $(redis-cli -p "$RPORT" xinfo groups revoca:events 2>/dev/null |
    awk 'p {print; exit} $0 == "lag" {p = 1}') == 0 &&
    $(redis-cli -p "$RPORT" xpending revoca:events signer 2>/dev/null | head -1) == 0 ]]; do
    sleep 0.5
done
kill "$SIGNER"; wait "$SIGNER" 2>/dev/null || true

# requests (hand-built DER, SHA-1 CertID) and GET paths
$PY - "$TMP" "$N" <<'PY'
import base64, hashlib, sys, urllib.parse
from cryptography import x509
from cryptography.hazmat.primitives import serialization

tmp, n = sys.argv[1], int(sys.argv[2])
iss = x509.load_pem_x509_certificate(open(tmp + "/pki/issuer.pem", "rb").read())
name_hash = hashlib.sha1(iss.subject.public_bytes()).digest()
spki = iss.public_key().public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)

def der_next(b, off):  # the (tag, contents, next offset) of the TLV at off
    tag, n, off = b[off], b[off + 1], off + 2
    if n & 0x80:
        n, off = int.from_bytes(b[off:off + (n & 0x7f)], "big"), off + (n & 0x7f)
    return tag, b[off:off + n], off + n

# RFC 6960 4.1.1: issuerKeyHash is over the subjectPublicKey BIT STRING's
# value (after AlgorithmIdentifier, without the unused-bits octet)
_, body, _ = der_next(spki, 0)
_, _, off = der_next(body, 0)
tag, bits, _ = der_next(body, off)
assert tag == 0x03 and bits[0] == 0
key_hash = hashlib.sha1(bits[1:]).digest()

def tlv(tag, body):
    assert len(body) < 0x80
    return bytes([tag, len(body)]) + body

def req(serial):
    s = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    certid = tlv(0x30, tlv(0x30, bytes.fromhex("06052b0e03021a0500")) +
                 tlv(0x04, name_hash) + tlv(0x04, key_hash) + tlv(0x02, s))
    return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certid))))

reqs = [req(1048576 + i) for i in range(n)]
assert len(set(map(len, reqs))) == 1
with open(tmp + "/post.bin", "wb") as f:
    f.write(b"".join(reqs))
with open(tmp + "/post.bin.len", "w") as f:
    f.write("%d\n" % len(reqs[0]))
with open(tmp + "/get.txt", "w") as f:
    for d in reqs:
        f.write("/ocsp/" + urllib.parse.quote(base64.b64encode(d).decode(), "") + "\n")
# cfssl ocspserve answers GET at "/" and query-unescapes the already
# unescaped path, so its "+" must be encoded twice
with open(tmp + "/cfssl_get.txt", "w") as f:
    for d in reqs:
        f.write("/" + base64.b64encode(d).decode().replace("+", "%252B") + "\n")
print("   %d requests of %d bytes" % (n, len(reqs[0])))
PY

# With one server process: the servers (nginx's worker, Redis, cfssl) on
# one core, the client, wrk, on the other, so that neither steals from the
# other.  With two: the servers on both cores, the client sharing one.
CLIENT_CPU=0
ONE_CPU=$(($(nproc) > 1 ? 1 : 0))
REDIS_PID=$(redis-cli -p "$RPORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
taskset -pc "$ONE_CPU" "$REDIS_PID" >/dev/null

# one nginx per configuration, WORKERS workers on SERVER_CPUS; sets P (not
# run in $(...): the command substitution would wait for nginx, which holds
# its stdout).  The static file's location is in every one of them, with
# the module's settings around it.
start_nginx() {  # NAME LOCATION_EXTRA
    local name=$1 extra=$2 p
    p=$(port)
    mkdir -p "$TMP/$name/tmp"
    cat >"$TMP/$name/nginx.conf" <<NGX
load_module $MODULE;
$([[ $(id -u) -eq 0 ]] && echo "user root root;")
worker_processes $WORKERS;
pid $TMP/$name/nginx.pid;
error_log $TMP/$name/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/$name/tmp;
    revoca_config $TMP/revoca.conf;
    revoca_cache_zone 512m;
    revoca_redis_keepalive 64;
    server {
        listen 127.0.0.1:$p backlog=4096;
        keepalive_requests 1000000;
        location /ocsp { revoca_ocsp; $extra }
        location = /metrics { revoca_metrics; }
        # the static file as a tuned nginx serves one: descriptor cached
        location = /static.bin {
            root $TMP;
            default_type application/ocsp-response;
            open_file_cache max=16;
            open_file_cache_valid 1h;
        }
    }
}
NGX
    taskset -c "$SERVER_CPUS" /usr/sbin/nginx -p "$TMP/$name" -c "$TMP/$name/nginx.conf" -e "$TMP/$name/error.log" \
        -g "daemon off;" </dev/null >"$TMP/$name/stdout.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$p" || { cat "$TMP/$name/error.log" >&2; exit 1; }
    # the workers, for their CPU time
    until [[ $(pgrep -c -P "${PIDS[-1]}") -ge $WORKERS ]]; do sleep 0.1; done
    SERVER_PIDS="$(pgrep -P "${PIDS[-1]}" | tr '\n' ' ')"
    P=$p
}
stop_last() {
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
    unset 'PIDS[-1]'
}

# Every certificate's response, fetched through the module (GET), each
# checked to be a successful OCSPResponse: cfssl's responses file and the
# static file (the median size).  Also fills the module's cache.
fetch_responses() {  # PORT
    $PY - "$TMP" "$1" <<'PY'
import base64, http.client, sys
tmp, port = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
ders = []
for path in open(tmp + "/get.txt"):
    c.request("GET", path.strip())
    r = c.getresponse()
    d = r.read()
    # OCSPResponse SEQUENCE { responseStatus ENUMERATED successful(0), ... }
    assert r.status == 200 and len(d) > 64 and d[0] == 0x30, (path, r.status, d)
    hl = 2 + (d[1] & 0x7f if d[1] & 0x80 else 0)
    assert d[hl:hl + 3] == b"\x0a\x01\x00", "not successful: %r" % d[:16]
    ders.append(d)
with open(tmp + "/cfssl.responses", "w") as f:
    for d in ders:
        f.write(base64.b64encode(d).decode() + "\n")
sizes = sorted(len(d) for d in ders)
with open(tmp + "/static.bin", "wb") as f:
    f.write(b"\0" * sizes[len(sizes) // 2])
with open(tmp + "/static.txt", "w") as f:
    f.write("/static.bin\n")
print("   %d responses through the module, %d..%d bytes (median %d)" % (
    len(ders), sizes[0], sizes[-1], sizes[len(sizes) // 2]))
PY
}

# OCSP answers other than successful the module counted (its metrics): an
# unsigned error is an HTTP 200, which wrk cannot tell apart
ocsp_errors() {  # PORT
    curl -s "http://127.0.0.1:$1/metrics" | awk '
        /^revoca_ocsp_responses_total/ && !/status="successful"/ {n += $NF}
        END {print n + 0}'
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
# CPU time (clock ticks) the server processes SERVER_PIDS (and Redis,
# counted apart) have used: the server's cost per request, whether or not
# the client saturates
ticks() {
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
run() {  # LABEL PORT MODE FILE SECONDS [MODULE]: one slice of a row
    local out t0 t1 r0 r1 e0=0 e1=0
    [[ -n ${6:-} ]] && e0=$(ocsp_errors "$2")
    local perf=()
    if [[ -n ${PERF_OUT:-} && $WORKERS == 2 && $1 == *-warm ]]; then
        local pids
        pids=$(echo $SERVER_PIDS | tr ' ' ',')
        mkdir -p "$PERF_OUT"
        # -p takes the workers only (not the master), comma-separated
        perf stat -e cycles,instructions,cache-misses -p "$pids" \
            -o "$PERF_OUT/stat-$1-$3.txt" --append -- sleep "$5" >/dev/null 2>&1 &
        perf+=("$!")
        if [[ $3 != static ]]; then
            perf record -g -p "$pids" -o "$PERF_OUT/$1-$3.data" \
                -- sleep "$5" >/dev/null 2>&1 &
            perf+=("$!")
        fi
    fi
    t0=$(ticks $SERVER_PIDS); r0=$(ticks "$REDIS_PID")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${5}s" --latency -s "$ROOT/loadtest/ocsp_bench.lua" \
        "http://127.0.0.1:$2" -- "$3" "$4" | grep '^RESULT')
    t1=$(ticks $SERVER_PIDS); r1=$(ticks "$REDIS_PID")
    local p
    for p in "${perf[@]}"; do wait "$p" || true; done
    [[ -n ${6:-} ]] && e1=$(ocsp_errors "$2")
    out="$out cpu_ticks=$((t1 - t0)) redis_ticks=$((r1 - r0)) ocsp_errors=$((e1 - e0)) clk_tck=$(getconf CLK_TCK)"
    echo "   $1 $3: $out"
    echo "$WORKERS $1 $3 $out" >>"$RESULTS"
}
# The rows of one server, measured in ROUNDS interleaved slices of
# SECONDS / ROUNDS each, so that the load other processes put on this
# machine meanwhile falls on every row alike: ROWS are "LABEL MODE FILE
# [MODULE]"
measure() {  # PORT ROW...
    local port=$1 round row label mode file mod
    local slice=$((DUR / ROUNDS > 0 ? DUR / ROUNDS : 1))
    shift
    for round in $(seq 1 "$ROUNDS"); do
        for row in "$@"; do
            read -r label mode file mod <<<"$row"
            run "$label" "$port" "$mode" "$file" "$slice" "$mod"
        done
    done
}

for WORKERS in 1 2; do
    if ((WORKERS == 1)); then
        SERVER_CPUS=$ONE_CPU
    else
        SERVER_CPUS=0-$(($(nproc) > 1 ? 1 : 0))
    fi
    echo "== $WORKERS server process(es) on CPU $SERVER_CPUS, wrk on CPU $CLIENT_CPU"

    echo "== module, warm cache; the static file beside it"
    start_nginx warm "revoca_cache_valid 1h;"
    fetch_responses "$P"
    measure "$P" "module-warm get $TMP/get.txt m" \
        "module-warm post $TMP/post.bin m" "static-warm static $TMP/static.txt"
    stop_last

    echo "== module, cache off (Redis on every request); the static file beside it"
    start_nginx nocache "revoca_cache off;"
    measure "$P" "module-nocache get $TMP/get.txt m" \
        "module-nocache post $TMP/post.bin m" \
        "static-nocache static $TMP/static.txt"
    stop_last

    echo "== cfssl ocspserve"
    CP=$(port)
    GOMAXPROCS=$WORKERS taskset -c "$SERVER_CPUS" cfssl ocspserve -address 127.0.0.1 -port "$CP" \
        -responses "$TMP/cfssl.responses" -loglevel 5 >"$TMP/cfssl.log" 2>&1 &
    PIDS+=("$!")
    SERVER_PIDS=${PIDS[-1]}
    # it reads and parses every response before it listens
    for i in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$CP") 2>/dev/null && break
        sleep 0.1
    done
    wait_port "$CP" || { cat "$TMP/cfssl.log" >&2; exit 1; }
    # Debian's cfssl (1.2.0) base64-decodes the GET path with its leading
    # "/": it answers no GET at all.  Measured only if it answers this one.
    rows=("cfssl post $TMP/post.bin")
    if [[ $(curl -s -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$CP$(head -1 "$TMP/cfssl_get.txt")") == 200 ]]; then
        rows+=("cfssl get $TMP/cfssl_get.txt")
    else
        echo "   cfssl get: HTTP 400 for a valid GET request; not measured"
    fi
    measure "$CP" "${rows[@]}"
    stop_last
done

for f in "$TMP"/*/error.log; do
    if grep -E '\[(alert|crit|emerg)\]' "$f"; then echo "!! $f has alerts" >&2; fi
done

$PY - "$RESULTS" "$N" "$DUR" "$CONNS" "$ROUNDS" <<'PY'
import re, statistics, sys
slices = {}
for line in open(sys.argv[1]):
    workers, label, mode, rest = line.split(" ", 3)
    kv = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", rest)}
    slices.setdefault((int(workers), label, mode), []).append(kv)
rows = {}
for key, sl in slices.items():
    req = max(sum(x["requests"] for x in sl), 1)
    secs = sum(x["requests"] / x["rps"] for x in sl if x["rps"])
    tck = sl[0]["clk_tck"]
    r = {"rps": req / secs if secs else 0,
         # latency: the median slice's, so that one slice that other
         # processes disturbed does not stand for the row
         "p50_us": statistics.median(x["p50_us"] for x in sl),
         "p99_us": statistics.median(x["p99_us"] for x in sl),
         "errors": sum(x["errors"] + x["non2xx"] + x["ocsp_errors"] for x in sl),
         "redis_us": sum(x["redis_ticks"] for x in sl) * 1e6 / tck / req,
         "cpu_us": sum(x["cpu_ticks"] for x in sl) * 1e6 / tck / req}
    if key[1].startswith("module"):
        # the module's cost is nginx's and Redis' together
        r["cpu_us"] += r["redis_us"]
    rows[key] = r
print()
print("N=%s certificates (10%% revoked); each row %s s, in %s slices interleaved with"
      % (sys.argv[2], sys.argv[3], sys.argv[5]))
print("the other rows of its server; wrk -t1 -c%s pinned to CPU 0." % sys.argv[4])
print("1 worker: nginx's worker + Redis (or cfssl, GOMAXPROCS=1) on CPU 1, alone.")
print("2 workers: nginx's 2 workers (or cfssl, GOMAXPROCS=2) on CPUs 0-1, sharing CPU 0")
print("with the client (Redis stays on CPU 1).")
print("Each module row is compared with the static file served by the same nginx")
print("(the same settings, measured in the same rounds); cfssl with the warm one.")
print()
print("| workers | server | method | req/s | p50 ms | p99 ms | errors | vs static"
      " | server CPU us/req | static CPU us/req | CPU vs static | of which Redis us/req | vs cfssl |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for w in (1, 2):
    for label, peer in (("module-warm", "static-warm"), ("static-warm", "static-warm"),
                        ("module-nocache", "static-nocache"),
                        ("static-nocache", "static-nocache"), ("cfssl", "static-warm")):
        st = rows.get((w, peer, "static"))
        for mode in ("get", "post", "static"):
            r = rows.get((w, label, mode))
            if not r or not st:
                continue
            # cfssl answers only POST (see above): GET is compared with that
            cf = rows.get((w, "cfssl", mode)) or rows.get((w, "cfssl", "post"))
            print("| %d | %s | %s | %.0f | %.2f | %.2f | %d | %.2fx | %.1f | %.1f | %.2fx | %s | %s |" % (
                w, label, mode.upper() if mode != "static" else "GET file",
                r["rps"], r["p50_us"] / 1000, r["p99_us"] / 1000, r["errors"],
                r["rps"] / st["rps"], r["cpu_us"], st["cpu_us"],
                st["cpu_us"] / r["cpu_us"] if r["cpu_us"] else 0,
                ("%.1f" % r["redis_us"]) if label.startswith("module") else "-",
                ("%.2fx" % (r["rps"] / cf["rps"])) if cf and label.startswith("module") else "-"))
print()
print("targets (issue 10): warm GET and POST >= 1.0x static, cache off >= 0.8x,")
print("warm never below cache off, the same ratios with 2 workers as with 1")
print("server CPU: utime+stime of the server's processes (nginx's workers and")
print("Redis for the module; cfssl) over the row, per request; CPU vs static is")
print("static's CPU per request over the row's (above 1: cheaper than the file)")
print("errors: connection errors, non-2xx and OCSP answers other than successful")
if not any(k[1:] == ("cfssl", "get") for k in rows):
    print("cfssl answers no GET: GET rows are compared with cfssl's POST")
bad = [k for k, r in rows.items() if r["errors"]]
if bad:
    print("!! runs with errors or unsuccessful answers (not comparable):", bad)
PY
