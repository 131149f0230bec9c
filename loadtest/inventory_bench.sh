#!/usr/bin/env bash
# `revoca inventory` over a large store (issue 14 section 5).  Not a test.
#
#   loadtest/inventory_bench.sh [N]      (default 1000000 certificates)
#
# Writes N certificate records straight into a fresh Redis on a free
# loopback port (as the signer packs them: every tenth revoked, every
# tenth with a subject, notAfters spread over 30 days, and a stored
# response key beside each, so that SCAN walks the 2N keys a real store
# has), then runs `revoca inventory --format csv` and `--format json` over
# it, and the same at N/10, each under /usr/bin/time -v: rows, seconds,
# rows/s and maximum RSS, and the RSS ratio of N to N/10 (1.0: memory does
# not grow with the rows).  Last, a revoca-signer with its metrics file
# makes one inventory walk (signer.inventory_interval) and its
# revoca_signer_inventory_walk_seconds is printed.  Everything it starts
# listens on 127.0.0.1 and is stopped at exit.
set -euo pipefail

N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-inv-bench.XXXXXX)
PORT=$(bench_port)
SIGNER_PID=

cleanup() {
    if [[ -n $SIGNER_PID ]]; then
        kill "$SIGNER_PID" 2>/dev/null || true
        wait "$SIGNER_PID" 2>/dev/null || true
    fi
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

for x in "$BUILD/responder/revoca-signer" "$BUILD/feeds/revoca" /usr/bin/time; do
    [[ -x $x ]] || { echo "missing $x (build first; apt-get install time)" >&2; exit 1; }
done

$PY "$ROOT/deploy/demo_pki.py" "$TMP/pki" >/dev/null
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly no \
    --save "" --daemonize yes --logfile "$TMP/redis.log"
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
bench_conf "$PORT" "$TMP/revoca.conf"

# ISSUER N: N records of issuer ISSUER in RESP, piped into Redis
load() {
    $PY - "$1" "$2" <<'PY' | redis-cli -p "$PORT" --pipe >/dev/null
import sys, time
issuer, n = sys.argv[1], int(sys.argv[2])
now = int(time.time())

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)

def field(tag, wt, payload):
    return varint(tag << 3 | wt) + payload

def record(serial, i):
    s = serial.encode()
    rec = field(1, 2, varint(len(s)) + s)
    revoked = i % 10 == 0
    rec += field(2, 0, varint(1 if revoked else 0))
    rec += field(3, 0, varint(now - 86400))
    rec += field(4, 0, varint(now + 60 + (i * 2593) % (30 * 86400)))
    if revoked:
        rec += field(6, 0, varint(now - 3600)) + field(7, 0, varint(1))
    rec += field(10, 0, varint(now))
    if i % 10 == 5:
        sub = ("CN=host%d.example.test,O=Example Corp" % i).encode()
        rec += field(11, 2, varint(len(sub)) + sub)
    return rec

def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

w = sys.stdout.buffer
for i in range(n):
    serial = "7c%016x" % (0x100000 + i)
    w.write(cmd(b"SET", ("revoca:cert:%s:%s" % (issuer, serial)).encode(),
                record(serial, i)))
    w.write(cmd(b"SET", ("revoca:ocsp:%s:%s" % (issuer, serial)).encode(),
                b"x" * 16))
PY
}

# FORMAT: one run under time -v; prints "rows seconds rss_kb"
run() {
    /usr/bin/time -v -o "$TMP/time.txt" "$BUILD/feeds/revoca" -c "$TMP/revoca.conf" \
        inventory --issuer bench --format "$1" >"$TMP/out"
    local rows secs rss
    if [[ $1 == json ]]; then
        rows=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")
    else
        rows=$(($(wc -l <"$TMP/out") - 1))
    fi
    secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt")
    echo "$rows $secs $rss"
}

report() { # LABEL ROWS SECS RSS
    awk -v l="$1" -v r="$2" -v s="$3" -v m="$4" 'BEGIN {
        printf "  %-14s %9d rows %7.2f s %9.0f rows/s  max RSS %6.1f MB\n",
            l, r, s, (s > 0 ? r / s : 0), m / 1024 }'
}

SMALL=$((N / 10))
echo "loading $SMALL records (issuer small) and $N (issuer bench), each with a stored-response key"
load small "$SMALL"
load bench "$N"
echo "keys in Redis: $(redis-cli -p "$PORT" dbsize)"

declare -A RSS
for fmt in csv json; do
    read -r rows secs rss < <(run "$fmt")
    [[ $rows -eq $N ]] || { echo "$fmt: $rows rows, expected $N" >&2; exit 1; }
    report "bench $fmt" "$rows" "$secs" "$rss"
    RSS[$fmt]=$rss
done
sed -i 's/name = "bench"/name = "small"/' "$TMP/revoca.conf"
for fmt in csv json; do
    /usr/bin/time -v -o "$TMP/time.txt" "$BUILD/feeds/revoca" -c "$TMP/revoca.conf" \
        inventory --issuer small --format "$fmt" >"$TMP/out"
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt")
    rows=$(($(wc -l <"$TMP/out") - 1))
    [[ $fmt == json ]] && rows=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")
    secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    report "small $fmt" "$rows" "$secs" "$rss"
    awk -v a="${RSS[$fmt]}" -v b="$rss" -v f="$fmt" \
        'BEGIN { printf "  %s: max RSS at %d rows / at %d rows = %.2f\n", f, '"$N"', '"$SMALL"', a / b }'
done
sed -i 's/name = "small"/name = "bench"/' "$TMP/revoca.conf"

echo "revoca-signer: one inventory walk of the metrics thread"
sed -i 's/^signer = { /signer = { inventory_interval = "1d"; /' "$TMP/revoca.conf"
"$BUILD/responder/revoca-signer" -c "$TMP/revoca.conf" \
    --metrics-file "$TMP/signer.prom" >"$TMP/signer.log" 2>&1 &
SIGNER_PID=$!
for _ in $(seq 1 1200); do
    grep -q '^revoca_signer_inventory_walk_seconds' "$TMP/signer.prom" 2>/dev/null && break
    sleep 0.5
done
grep -E '^revoca_signer_inventory_(walk_seconds|certificates\{issuer="bench",status="(good|revoked)"\}|expiring_certificates\{issuer="bench")' \
    "$TMP/signer.prom" | sed 's/^/  /'
