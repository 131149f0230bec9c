#!/usr/bin/env bash
# Bulk import and signing benchmark (issue: core/signer).  Not a test.
#
#   loadtest/signer_bench.sh [N]      (default 1000000 certificates)
#
# Makes an `openssl ca`-style index of N certificates (10% revoked), imports
# it with `revoca import` into a fresh Redis on a free loopback port, and
# times one revoca-signer until every response is in Redis.  In the same run
# it measures `openssl speed -seconds 3 ecdsap256` and prints the ratio of
# the signer's end-to-end signature rate to OpenSSL's single-core sign rate.
# Everything it starts listens on 127.0.0.1 and is stopped at exit.
#
# Redis runs with AOF (appendfsync everysec) as in production; REDIS_AOF=no
# turns it off, to see what the disk costs (the AOF grows by each
# certificate's stored responses, responder/stored.h: ~0.4 KB).
# On two or more cores Redis gets core 1 and the signer core 0.
# SIGNER_BATCH sets the signer's batch (default 512), REDIS_ARGS adds
# redis-server options.
set -euo pipefail

N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-bench.XXXXXX)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SIGNER_PID=

cleanup() {
    # the signer runs under /usr/bin/time, which does not pass signals on
    if [[ -n $SIGNER_PID ]]; then
        pkill -TERM -P "$SIGNER_PID" 2>/dev/null || true
        kill "$SIGNER_PID" 2>/dev/null || true
    fi
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

[[ -x $BUILD/responder/revoca-signer ]] || { echo "build first: deploy/dev build" >&2; exit 1; }

$PY "$ROOT/deploy/demo_pki.py" "$TMP/pki"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly "${REDIS_AOF:-yes}" \
    --appendfsync everysec --save "" --daemonize yes --logfile "$TMP/redis.log" ${REDIS_ARGS:-}
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done

bench_conf "$PORT" "$TMP/revoca.conf"

echo "generating index of $N certificates (10% revoked)"
bench_index "$N" "$TMP/index.txt"

# Redis (all its threads) on one core, the signer on the other, as
# docs/signer.md recommends: on two cores, letting them migrate costs
# the signer 10-20% of its rate.  One core: both share it.  OpenSSL is
# measured on the signer's core, before and after it runs; the ratio uses
# the faster of the two (this VM's speed drifts by up to 25%).
if (($(nproc) > 1)); then
    PIN="taskset -c 0"
else
    PIN=
fi
ossl_speed() {
    $PIN openssl speed -seconds 3 ecdsap256 2>/dev/null |
        awk '/^ *256 bits ecdsa \(nistp256\)/ {print $(NF-1)}'
}
echo "openssl speed -seconds 3 ecdsap256"
OSSL1=$(ossl_speed)

echo "revoca import"
IMPORT=$("$BUILD/feeds/revoca" -c "$TMP/revoca.conf" import --issuer bench \
    --openssl-index "$TMP/index.txt")
echo "  $IMPORT"
EVENTS=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$IMPORT")
IMPORT_RATE=$(sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p' <<<"$IMPORT")

echo "revoca-signer: signing every response"
REDIS_PID=$(redis-cli -p "$PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
redis_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$REDIS_PID/stat"; }
if [[ -n $PIN ]]; then
    taskset -a -pc 1 "$REDIS_PID" >/dev/null
fi
redis-cli -p "$PORT" config resetstat >/dev/null
RCPU0=$(redis_cpu)
T0=$(date +%s.%N)
/usr/bin/time -f "cpu_seconds=%U+%S" -o "$TMP/signer.time" \
    $PIN "$BUILD/responder/revoca-signer" -c "$TMP/revoca.conf" >"$TMP/signer.log" 2>&1 &
SIGNER_PID=$!
# Done when the group has read everything and holds nothing pending.  One
# polling process with one connection: forking redis-cli five times a
# second would take CPU from the signer on a two-core machine.
$PY - "$PORT" "$TMP/done" <<'PY' || { echo "gave up after 30 minutes" >&2; exit 1; }
import sys, time, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
deadline = time.monotonic() + 1800
while time.monotonic() < deadline:
    groups = {g["name"]: g for g in r.xinfo_groups("revoca:events")}
    g = groups.get(b"signer") or groups.get("signer")
    if g is not None and g.get("lag") == 0 and g.get("pending") == 0:
        open(sys.argv[2], "w").write("%.6f\n" % time.time())
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
T1=$(cat "$TMP/done")
RCPU=$(echo "$(redis_cpu) - $RCPU0" | bc)
pkill -TERM -P "$SIGNER_PID" revoca-signer; wait "$SIGNER_PID" || true; SIGNER_PID=
CPU=$(sed -n 's/cpu_seconds=//p' "$TMP/signer.time" | bc)
SIGNED=$(sed -n 's/.*stopped .*signed=\([0-9]*\).*/\1/p' "$TMP/signer.log")
# Where Redis's own time went while the signer ran (its busiest commands)
REDIS_STATS=$(redis-cli -p "$PORT" info commandstats |
    awk -F'[:=,]' '/^cmdstat_/ { sub("cmdstat_", "", $1); printf "%s %d %d\n", $1, $3, $5 }' |
    sort -k3 -nr | head -8)
STORED=$(redis-cli -p "$PORT" eval "return #redis.call('keys', 'revoca:ocsp:bench:*')" 0)
echo "openssl speed -seconds 3 ecdsap256, again"
OSSL2=$(ossl_speed)

$PY - "$N" "$EVENTS" "$IMPORT_RATE" "$T0" "$T1" "$SIGNED" "$OSSL1" "$OSSL2" "$STORED" "$CPU" "$RCPU" <<'PY'
import sys
n, events, imp, t0, t1, signed, ossl1, ossl2, stored, cpu, rcpu = sys.argv[1:]
n, events, imp, signed, stored = int(n), int(events), float(imp), int(signed), int(stored)
secs = float(t1) - float(t0)
ossl1, ossl2 = float(ossl1), float(ossl2)
ossl = max(ossl1, ossl2)
rate = signed / secs
print()
print("| measure | value | target |")
print("|---|---|---|")
print("| certificates (10%% revoked) | %d | |" % n)
print("| responses stored | %d | %d |" % (stored, n))
print("| import into the stream | %.0f events/s (%d events) | >= 50,000 events/s |" % (imp, events))
print("| signer, import to all responses stored | %.1f s | |" % secs)
print("| signer end-to-end | %.0f signatures/s (%.0f certificates/s) | |" % (rate, n / secs))
print("| openssl speed ecdsap256 sign (1 core), before / after | %.0f / %.0f sign/s | |" % (ossl1, ossl2))
print("| signer CPU time (one process) | %.1f s (%.0f%% of wall) | |" % (float(cpu), 100 * float(cpu) / secs))
print("| redis-server CPU time meanwhile | %.1f s (%.0f%% of wall) | |" % (float(rcpu), 100 * float(rcpu) / secs))
print("| ratio signer / openssl (the faster run) | %.2f | >= 0.50 |" % (rate / ossl))
PY
echo
echo "signer: $(grep -o 'stopped .*' "$TMP/signer.log")"
echo
echo "Redis's own time per command while the signer ran (INFO commandstats;"
echo "commands inside MULTI are counted again in EXEC):"
awk -v n="$N" '{ printf "  %-12s calls %9d  %7.2f s  %6.2f us per certificate\n", $1, $2, $3 / 1e6, $3 / n }' <<<"$REDIS_STATS"
