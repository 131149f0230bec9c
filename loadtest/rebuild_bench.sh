#!/usr/bin/env bash
# Rebuild benchmark (issue 14 section 4).  Not a test.
#
#   loadtest/rebuild_bench.sh [EVENTS]      (default 1000000 events)
#
# Makes an `openssl ca`-style index (loadtest/lib.sh: every tenth
# certificate revoked) of as many certificates as give EVENTS events (an
# issue each, a revocation for every tenth), imports it with `revoca
# import` into a fresh Redis on a free loopback port (no signer runs: the
# stream holds every event, the store nothing else), then times `revoca
# rebuild --issuer bench`, which applies every event through the signer's
# transaction and signs every response anew.  Prints the rebuild's own
# summary, its events/s and responses/s, and the wall time.  Bounded: the
# rebuild is given at most REBUILD_TIMEOUT seconds (default 1800).
#
# SIGN_THREADS sets signer.sign_threads for the rebuild (default 1);
# REDIS_AOF=no turns the AOF off (default on, everysec, as in production);
# REVOCA_BUILD picks the build (default ./build).  Everything it starts
# listens on 127.0.0.1 and is stopped at exit.
set -euo pipefail

EVENTS=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
TMP=$(mktemp -d /tmp/revoca-rebuild-bench.XXXXXX)
PORT=$(bench_port)

cleanup() {
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

[[ -x $BUILD/feeds/revoca ]] || { echo "build first: deploy/dev build" >&2; exit 1; }

/usr/bin/python3 "$ROOT/deploy/demo_pki.py" --key-type "${KEY_TYPE:-ec}" "$TMP/pki"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly "${REDIS_AOF:-yes}" \
    --appendfsync everysec --save "" --daemonize yes --logfile "$TMP/redis.log"
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done

bench_conf "$PORT" "$TMP/revoca.conf"
sed -i "s/^signer = {/signer = { sign_threads = ${SIGN_THREADS:-1};/" "$TMP/revoca.conf"

# N certificates give N + N/10 events (the revocation of every tenth).
N=$(((EVENTS * 10 + 10) / 11))
echo "generating index of $N certificates (10% revoked)"
bench_index "$N" "$TMP/index.txt"
echo "revoca import"
"$BUILD/feeds/revoca" -c "$TMP/revoca.conf" import --issuer bench \
    --openssl-index "$TMP/index.txt" | sed 's/^/  /'
STREAM=$(redis-cli -p "$PORT" xlen revoca:events)
echo "stream: $STREAM events, $(redis-cli -p "$PORT" dbsize) keys"

echo "revoca rebuild --issuer bench"
T0=$(date +%s.%N)
OUT=$(timeout "${REBUILD_TIMEOUT:-1800}" "$BUILD/feeds/revoca" -c "$TMP/revoca.conf" \
    rebuild --issuer bench 2>"$TMP/rebuild.err") || {
    echo "rebuild failed or timed out:" >&2
    cat "$TMP/rebuild.err" >&2
    exit 1
}
T1=$(date +%s.%N)
echo "  $OUT"
STORED=$(redis-cli -p "$PORT" eval "return #redis.call('keys', 'revoca:ocsp:bench:*')" 0)
WALL=$(echo "$T1 - $T0" | bc)
/usr/bin/python3 - "$STREAM" "$STORED" "$WALL" "$OUT" <<'PY'
import re, sys
events, stored, wall, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sigs = int(re.search(r"signatures=(\d+)", out).group(1))
print("events          %d" % events)
print("certificates    %d with a stored response" % stored)
print("wall            %.1f s (process start to exit)" % wall)
print("rebuild rate    %.0f events/s" % (events / wall))
print("signing         %.0f responses/s (%d signed)" % (sigs / wall, sigs))
PY
