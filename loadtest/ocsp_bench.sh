#!/usr/bin/env bash
# OCSP responder benchmark (issue 3).  Not a test.
#
#   loadtest/ocsp_bench.sh [N] [SECONDS]    (default 100000 certificates, 10 s)
#
# One workload: N certificates (10% revoked) imported with `revoca import`
# and signed by revoca-signer into a fresh Redis; requests with SHA-1
# CertIDs spread over all N serials (wrk + loadtest/ocsp_bench.lua), GET
# (base64 in the path) and POST.  Measured, one after the other, each
# server given one core (nginx worker_processes 1, GOMAXPROCS=1):
#   1. ngx_http_revoca_module, warm shared cache (every response cached)
#   2. ngx_http_revoca_module, cache off (every request goes to Redis)
#   3. cfssl ocspserve (Debian golang-cfssl) with the same signed responses
#   4. nginx serving a static file of the same size (GET of one file)
# and prints a table of throughput, p50/p99 latency and ratios.  Everything
# listens on free 127.0.0.1 ports and is stopped at exit.
set -euo pipefail

N=${1:-100000}
DUR=${2:-10}
CONNS=${CONNS:-32}
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

# requests (hand-built DER, SHA-1 CertID), GET paths, cfssl's response file
$PY - "$TMP" "$RPORT" "$N" <<'PY'
import base64, hashlib, sys, urllib.parse
import redis
from cryptography import x509
from cryptography.hazmat.primitives import serialization

tmp, rport, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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

r = redis.Redis(port=rport)
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
p = r.pipeline(transaction=False)
for i in range(n):
    p.hget("revoca:ocsp:bench:%x" % (1048576 + i), "sha1")
ders = p.execute()
assert all(ders), "responses missing from Redis"
with open(tmp + "/cfssl.responses", "w") as f:
    for d in ders:
        f.write(base64.b64encode(d).decode() + "\n")
sizes = sorted(len(d) for d in ders)
with open(tmp + "/static.bin", "wb") as f:
    f.write(ders[0][:0] + b"\0" * sizes[len(sizes) // 2])
with open(tmp + "/static.txt", "w") as f:
    f.write("/static.bin\n")
print("   %d requests of %d bytes; responses %d..%d bytes (median %d)" % (
    n, len(reqs[0]), sizes[0], sizes[-1], sizes[len(sizes) // 2]))
PY

# The servers (nginx's one worker, Redis, cfssl) share one core and the
# client, wrk, has the other, so that neither steals from the other.
CLIENT_CPU=0
SERVER_CPU=$(($(nproc) > 1 ? 1 : 0))
REDIS_PID=$(redis-cli -p "$RPORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
taskset -pc "$SERVER_CPU" "$REDIS_PID" >/dev/null

# one nginx per configuration, one worker each; sets P (not run in $(...):
# the command substitution would wait for nginx, which holds its stdout)
start_nginx() {  # NAME LOCATION_EXTRA
    local name=$1 extra=$2 p
    p=$(port)
    mkdir -p "$TMP/$name/tmp"
    cat >"$TMP/$name/nginx.conf" <<NGX
load_module $MODULE;
$([[ $(id -u) -eq 0 ]] && echo "user root root;")
worker_processes 1;
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
    taskset -c "$SERVER_CPU" /usr/sbin/nginx -p "$TMP/$name" -c "$TMP/$name/nginx.conf" -e "$TMP/$name/error.log" \
        -g "daemon off;" </dev/null >"$TMP/$name/stdout.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$p" || { cat "$TMP/$name/error.log" >&2; exit 1; }
    P=$p
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
# CPU time (clock ticks) the server processes SERVER_PIDS have used: the
# server's cost per request, whether or not the one-core client saturates
server_ticks() {
    local p t=0
    for p in $SERVER_PIDS; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
run() {  # LABEL PORT MODE FILE
    local out t0 t1 req
    t0=$(server_ticks)
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$ROOT/loadtest/ocsp_bench.lua" \
        "http://127.0.0.1:$2" -- "$3" "$4" | grep '^RESULT')
    t1=$(server_ticks)
    out="$out cpu_ticks=$((t1 - t0)) clk_tck=$(getconf CLK_TCK)"
    echo "   $1 $3: $out"
    echo "$1 $3 $out" >>"$RESULTS"
}
warm() {  # PORT: one pass over every certificate, GET and POST
    wrk -t1 -c8 -d"$((DUR / 2 + 3))s" -s "$ROOT/loadtest/ocsp_bench.lua" \
        "http://127.0.0.1:$1" -- post "$TMP/post.bin" >/dev/null
    wrk -t1 -c8 -d"$((DUR / 2 + 3))s" -s "$ROOT/loadtest/ocsp_bench.lua" \
        "http://127.0.0.1:$1" -- get "$TMP/get.txt" >/dev/null
}

echo "== module, warm cache"
start_nginx warm "revoca_cache_valid 1h;"
SERVER_PIDS="$(pgrep -P "${PIDS[-1]}" | tr '\n' ' ') $REDIS_PID"
warm "$P"
run module-warm "$P" get "$TMP/get.txt"
run module-warm "$P" post "$TMP/post.bin"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

echo "== module, cache off (Redis on every request)"
start_nginx nocache "revoca_cache off;"
SERVER_PIDS="$(pgrep -P "${PIDS[-1]}" | tr '\n' ' ') $REDIS_PID"
run module-nocache "$P" get "$TMP/get.txt"
run module-nocache "$P" post "$TMP/post.bin"
run static "$P" static "$TMP/static.txt"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

echo "== cfssl ocspserve"
CP=$(port)
GOMAXPROCS=1 taskset -c "$SERVER_CPU" cfssl ocspserve -address 127.0.0.1 -port "$CP" \
    -responses "$TMP/cfssl.responses" -loglevel 5 >"$TMP/cfssl.log" 2>&1 &
PIDS+=("$!")
SERVER_PIDS=${PIDS[-1]}
wait_port "$CP" || { cat "$TMP/cfssl.log" >&2; exit 1; }
# Debian's cfssl (1.2.0) base64-decodes the GET path with its leading "/":
# it answers no GET at all.  Measured only if it answers this one.
if [[ $(curl -s -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$CP$(head -1 "$TMP/cfssl_get.txt")") == 200 ]]; then
    run cfssl "$CP" get "$TMP/cfssl_get.txt"
else
    echo "   cfssl get: HTTP 400 for a valid GET request; not measured"
fi
run cfssl "$CP" post "$TMP/post.bin"

for f in "$TMP"/*/error.log; do
    if grep -E '\[(alert|crit|emerg)\]' "$f"; then echo "!! $f has alerts" >&2; fi
done

$PY - "$RESULTS" "$N" "$DUR" "$CONNS" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    label, mode, rest = line.split(" ", 2)
    kv = dict(re.findall(r"(\w+)=([\d.]+)", rest))
    rows[(label, mode)] = {k: float(v) for k, v in kv.items()}
static = rows[("static", "static")]["rps"]
print()
print("N=%s certificates (10%% revoked), %s s per run, wrk -t1 -c%s on one core;"
      " each server (nginx worker + Redis, or cfssl) on the other"
      % (sys.argv[2], sys.argv[3], sys.argv[4]))
print()
print("| server | method | req/s | p50 ms | p99 ms | errors | vs static | vs cfssl | server CPU us/req | CPU vs static |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows.values():
    r["cpu_us"] = r["cpu_ticks"] * 1e6 / r["clk_tck"] / max(r["requests"], 1)
static_cpu = rows[("static", "static")]["cpu_us"]
for label in ("module-warm", "module-nocache", "cfssl", "static"):
    for mode in ("get", "post", "static"):
        r = rows.get((label, mode))
        if not r:
            continue
        # cfssl answers only POST (see above): GET is compared with that
        cf = rows.get(("cfssl", mode)) or rows.get(("cfssl", "post"))
        print("| %s | %s | %.0f | %.2f | %.2f | %d | %.2fx | %s | %.1f | %.2fx |" % (
            label, mode.upper() if mode != "static" else "GET file",
            r["rps"], r["p50_us"] / 1000, r["p99_us"] / 1000,
            r["errors"] + r["non2xx"], r["rps"] / static,
            ("%.2fx" % (r["rps"] / cf["rps"])) if cf and label != "cfssl" else "-",
            r["cpu_us"], static_cpu / r["cpu_us"] if r["cpu_us"] else 0))
print()
print("targets: warm >= 0.8x static, cache off >= 0.5x static, module >= 3x cfssl")
print("server CPU: what the server processes (nginx worker, plus Redis for the")
print("module; cfssl) used per request; near 1e6 / req/s, the server core is the limit")
if ("cfssl", "get") not in rows:
    print("cfssl answers no GET: GET rows are compared with cfssl's POST")
bad = [k for k, r in rows.items() if r["errors"] + r["non2xx"]]
if bad:
    print("!! runs with errors or non-2xx answers (not comparable):", bad)
PY
