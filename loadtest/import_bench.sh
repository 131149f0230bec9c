#!/usr/bin/env bash
# Bulk import benchmark: `revoca import --openssl-index` of an index of N
# rows with --wait and --progress, then the same index under --follow
# (issue 13).  Not a test.
#
#   loadtest/import_bench.sh [N]      (default 1000000 rows, 10% revoked)
#
# A fresh Redis (AOF everysec, as in production) on a free loopback port and
# one revoca-signer (core 0 on two or more cores, Redis on core 1).  Prints:
#   import --wait:  rows/s sent (the importer alone) and rows/s signed (from
#                   start until --wait returned: every response in Redis);
#   --follow:       the first round of a follower on the same index (rows/s:
#                   parse, per-serial state read and written with the
#                   events), a restart on the unchanged index (the digest
#                   alone is compared), and one row revoked in the N-row
#                   index, the time until the follower reported it and
#                   until --wait had it signed.
# Everything it starts is stopped at exit.  REVOCA_BUILD picks the build.
set -euo pipefail

N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
REVOCA=$BUILD/feeds/revoca
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-import-bench.XXXXXX)
PORT=$(bench_port)
SIGNER_PID= FOLLOW_PID=

cleanup() {
    [[ -n $FOLLOW_PID ]] && kill "$FOLLOW_PID" 2>/dev/null || true
    [[ -n $SIGNER_PID ]] && kill "$SIGNER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

[[ -x $REVOCA && -x $BUILD/responder/revoca-signer ]] || { echo "build first: deploy/dev build" >&2; exit 1; }

$PY "$ROOT/deploy/demo_pki.py" --key-type "${KEY_TYPE:-ec}" "$TMP/pki"
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly yes \
    --appendfsync everysec --save "" --daemonize yes --logfile "$TMP/redis.log"
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
bench_conf "$PORT" "$TMP/revoca.conf"
echo "generating index of $N rows (10% revoked)"
bench_index "$N" "$TMP/index.txt"

PIN=
if (($(nproc) > 1)); then
    PIN="taskset -c 0"
    REDIS_PID=$(redis-cli -p "$PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    taskset -a -pc 1 "$REDIS_PID" >/dev/null
fi
$PIN "$BUILD/responder/revoca-signer" -c "$TMP/revoca.conf" >"$TMP/signer.log" 2>&1 &
SIGNER_PID=$!
until redis-cli -p "$PORT" exists revoca:events | grep -q 1; do sleep 0.1; done

now() { date +%s.%N; }
rate() { echo "scale=0; $1 / ($2)" | bc; }

echo "revoca import --wait --progress 5"
T0=$(now)
OUT=$("$REVOCA" -c "$TMP/revoca.conf" import --issuer bench \
    --openssl-index "$TMP/index.txt" --wait --wait-timeout 3600 --progress 5 \
    2>"$TMP/import.err")
T1=$(now)
sed 's/^/  /' "$TMP/import.err" | tail -4
echo "  $OUT"
EVENTS=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' <<<"$OUT")
SENT_MS=$(grep -o 'progress rows=[0-9]*/[0-9]* events=[0-9]*' "$TMP/import.err" | tail -1 || true)
STORED=$(redis-cli -p "$PORT" eval "return #redis.call('keys', 'revoca:ocsp:bench:*')" 0)
IMPORT_S=$(echo "$T1 - $T0" | bc)

# the importer alone: the same index again with no waiting (the signer
# finds every record already as the events say)
T2=$(now)
OUT2=$("$REVOCA" -c "$TMP/revoca.conf" import --issuer bench \
    --openssl-index "$TMP/index.txt" 2>/dev/null)
T3=$(now)
SEND_S=$(echo "$T3 - $T2" | bc)

echo "revoca import --follow: first round, restart, one row revoked"
follow_start() {
    "$REVOCA" -c "$TMP/revoca.conf" import --issuer bench \
        --openssl-index "$TMP/index.txt" --follow --wait --wait-timeout 3600 \
        >>"$TMP/follow.log" 2>&1 &
    FOLLOW_PID=$!
}
# wait_line N: until the follower's log has N "imported" lines
wait_line() {
    until (($(grep -c '^imported ' "$TMP/follow.log" || true) >= $1)); do sleep 0.02; done
}
T4=$(now)
follow_start
wait_line 1
T5=$(now)
FIRST=$(grep '^imported ' "$TMP/follow.log" | tail -1)
kill -TERM "$FOLLOW_PID"; wait "$FOLLOW_PID" || true
T6=$(now)
follow_start
until grep -q 'unchanged rows=' "$TMP/follow.log"; do sleep 0.02; done
T7=$(now)
# one row revoked, in place, as openssl ca -revoke writes it (by rename)
awk 'NR == 2 { sub(/^V\t301231235959Z\t\t/, "R\t301231235959Z\t260203040506Z,superseded\t") } { print }' \
    "$TMP/index.txt" >"$TMP/index.txt.new"
T8=$(now)
mv "$TMP/index.txt.new" "$TMP/index.txt"
until grep -q 'change=revoked' "$TMP/follow.log"; do sleep 0.01; done
T9=$(now)
wait_line 2
T10=$(now)
kill -TERM "$FOLLOW_PID"; wait "$FOLLOW_PID" || true
FOLLOW_PID=
CHANGE=$(grep 'change=revoked' "$TMP/follow.log")

echo
echo "rows=$N events=$EVENTS responses_stored=$STORED"
echo "import --wait:      $(printf %.1f "$IMPORT_S") s, $(rate "$N" "$IMPORT_S") rows/s signed (until every response was in Redis)"
echo "import (send only): $(printf %.1f "$SEND_S") s, $(rate "$N" "$SEND_S") rows/s sent ($OUT2)"
echo "follow first round: $(printf %.1f "$(echo "$T5 - $T4" | bc)") s, $(rate "$N" "$T5 - $T4") rows/s ($FIRST)"
echo "follow restart, index unchanged: $(printf %.2f "$(echo "$T7 - $T6" | bc)") s until it said so (read and digest compared, no row sent)"
echo "one row revoked in $N: reported after $(printf %.3f "$(echo "$T9 - $T8" | bc)") s, signed after $(printf %.3f "$(echo "$T10 - $T8" | bc)") s"
echo "  $CHANGE"
