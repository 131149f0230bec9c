#!/usr/bin/env bash
# Bulk import and signing benchmark (issue: core/signer).  Not a test.
#
#   loadtest/signer_bench.sh [N]      (default 1000000 certificates)
#
# Makes an `openssl ca`-style index of N certificates (10% revoked), imports
# it with `revoca import` into a fresh Redis on a free loopback port, and
# times one revoca-signer until every response is in Redis.  In the same run
# it measures `openssl speed -seconds 3` for the responder key's type (EC
# P-256 by default) and prints the signer's end-to-end signature rate, its
# busy share and its microseconds per signature next to OpenSSL's
# single-core ones.  Then (SIGNERS2=yes, the default) Redis is emptied, the
# same index imported again, and two signers take it together: the rate of
# the pair, and whether any batch was signed twice (signatures computed
# against those committed, WATCH conflicts, entries acknowledged against
# events).  Everything it starts listens on 127.0.0.1 and is stopped at
# exit.
#
# Redis runs with AOF (appendfsync everysec) as in production; REDIS_AOF=no
# turns it off, to see what the disk costs (the AOF grows by each
# certificate's stored responses, responder/stored.h: ~0.4 KB).
# On two or more cores Redis gets core 1 and the signer core 0 (both
# signers of the second run share core 0 on a two-core machine: it shows
# that they split the work without repeating any, not that they scale;
# with SIGNER2_CORE=N the second signer gets core N instead).
# SIGNER_BATCH sets the signer's batch (default 512), REDIS_ARGS adds
# redis-server options, KEY_TYPE=rsa makes an RSA-2048 PKI, PERF=DIR
# records the single signer with `perf record -g` into DIR (perf.data and
# perf.txt, the top of `perf report`; the figures of that run then carry
# perf's own cost).  REVOCA_BUILD picks the build (default ./build).
set -euo pipefail

N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-bench.XXXXXX)
PORT=$(bench_port)
SIGNER_PIDS=()

cleanup() {
    # the signers run under /usr/bin/time, which does not pass signals on
    for pid in "${SIGNER_PIDS[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

[[ -x $BUILD/responder/revoca-signer ]] || { echo "build first: deploy/dev build" >&2; exit 1; }

$PY "$ROOT/deploy/demo_pki.py" --key-type "${KEY_TYPE:-ec}" "$TMP/pki"
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
    PIN2="taskset -c ${SIGNER2_CORE:-0}"
else
    PIN=
    PIN2=
fi

# The `openssl speed` algorithm of the responder key, and the line of its
# sign/s figure (the next-to-last column of that line in OpenSSL 3).
KEYTEXT=$(openssl pkey -in "$TMP/pki/responder.key" -noout -text 2>/dev/null | grep -E "Private-Key|ASN1 OID|NIST CURVE|ED25519" || true)
case $KEYTEXT in
*prime256v1* | *P-256*) ALG=ecdsap256 LINE='256 bits ecdsa \(nistp256\)' ;;
*secp384r1* | *P-384*) ALG=ecdsap384 LINE='384 bits ecdsa \(nistp384\)' ;;
*secp521r1* | *P-521*) ALG=ecdsap521 LINE='521 bits ecdsa \(nistp521\)' ;;
*ED25519*) ALG=ed25519 LINE='EdDSA \(Ed25519\)' ;;
*"Private-Key: (2048 bit"*) ALG=rsa2048 LINE='^rsa 2048 bits' ;;
*"Private-Key: (3072 bit"*) ALG=rsa3072 LINE='^rsa 3072 bits' ;;
*"Private-Key: (4096 bit"*) ALG=rsa4096 LINE='^rsa 4096 bits' ;;
*) echo "responder key of a type this benchmark does not know: $KEYTEXT" >&2; exit 1 ;;
esac
ossl_speed() {
    $PIN openssl speed -seconds 3 "$ALG" 2>/dev/null |
        awk -v re="$LINE" '$0 ~ re {print $(NF-1)}'
}
echo "openssl speed -seconds 3 $ALG"
OSSL1=$(ossl_speed)

import_index() {
    "$BUILD/feeds/revoca" -c "$TMP/revoca.conf" import --issuer bench \
        --openssl-index "$TMP/index.txt"
}
echo "revoca import"
IMPORT=$(import_index)
echo "  $IMPORT"
EVENTS=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$IMPORT")
IMPORT_RATE=$(sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p' <<<"$IMPORT")

REDIS_PID=$(redis-cli -p "$PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
redis_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$REDIS_PID/stat"; }
if [[ -n $PIN ]]; then
    taskset -a -pc 1 "$REDIS_PID" >/dev/null
fi

# Done when the group has read everything and holds nothing pending.
wait_done() { bench_wait_signed "$PORT" >"$1"; }

# start_signer NAME PIN [PREFIX...]: one signer under /usr/bin/time
start_signer() {
    local name=$1 pin=$2
    shift 2
    /usr/bin/time -f "cpu_seconds=%U+%S" -o "$TMP/$name.time" \
        "$@" $pin "$BUILD/responder/revoca-signer" -c "$TMP/$name.conf" \
        >"$TMP/$name.log" 2>&1 &
    SIGNER_PIDS+=($!)
}
stop_signers() {
    for pid in "${SIGNER_PIDS[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
    done
    for pid in "${SIGNER_PIDS[@]}"; do
        wait "$pid" || true
    done
    SIGNER_PIDS=()
}
# field NAME LOG: a number of the signer's "stopped" line ("" if absent)
field() { sed -n "s/.*stopped\(.* \)$1=\([0-9]*\).*/\2/p" "$2"; }
cpu_of() { sed -n 's/cpu_seconds=//p' "$TMP/$1.time" | bc; }

echo "revoca-signer: signing every response"
cp "$TMP/revoca.conf" "$TMP/one.conf"
redis-cli -p "$PORT" config resetstat >/dev/null
RCPU0=$(redis_cpu)
T0=$(date +%s.%N)
if [[ -n ${PERF:-} ]]; then
    mkdir -p "$PERF"
    start_signer one "$PIN" perf record ${PERF_CALLGRAPH:--g} -o "$PERF/perf.data" --
else
    start_signer one "$PIN"
fi
# The signer's scheduler account (/proc/PID/schedstat: ns on a CPU, ns
# runnable but waiting for one), read just before it stops: with the CPU
# time, it splits the wall clock into signing, waiting for the CPU (other
# load on this machine) and waiting for Redis (blocked in read/write).
signer_pid() {
    local p=$1 c i
    for ((i = 0; i < 100; i++)); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == revoca-signer ]] && break
        c=$(pgrep -P "$p" | head -1) || true
        if [[ -n $c ]]; then p=$c; else sleep 0.05; fi
    done
    echo "$p"
}
SPID=$(signer_pid "${SIGNER_PIDS[0]}")
wait_done "$TMP/done"
T1=$(cat "$TMP/done")
read -r ON_NS RUNQ_NS _ <"/proc/$SPID/schedstat" || { ON_NS=0 RUNQ_NS=0; }
RCPU=$(echo "$(redis_cpu) - $RCPU0" | bc)
stop_signers
CPU=$(cpu_of one)
SIGNED=$(field signed "$TMP/one.log")
COMPUTED=$(field computed "$TMP/one.log")
# Where Redis's own time went while the signer ran (its busiest commands)
REDIS_STATS=$(redis-cli -p "$PORT" info commandstats |
    awk -F'[:=,]' '/^cmdstat_/ { sub("cmdstat_", "", $1); printf "%s %d %d\n", $1, $3, $5 }' |
    sort -k3 -nr | head -8)
STORED=$(redis-cli -p "$PORT" eval "return #redis.call('keys', 'revoca:ocsp:bench:*')" 0)
if [[ -n ${PERF:-} ]]; then
    perf report -i "$PERF/perf.data" --no-children --percent-limit 0.7 \
        --stdio -g none 2>/dev/null | grep -v '^$' >"$PERF/perf.txt" || true
fi

T2_0= T2_1= SIGNED2= CPU2A= CPU2B=
if [[ ${SIGNERS2:-yes} == yes ]]; then
    echo "two revoca-signers: Redis emptied, the same index imported again"
    redis-cli -p "$PORT" flushall >/dev/null
    echo "  $(import_index)"
    sed 's/^signer = {/signer = { consumer = "a";/' "$TMP/revoca.conf" >"$TMP/a.conf"
    sed 's/^signer = {/signer = { consumer = "b";/' "$TMP/revoca.conf" >"$TMP/b.conf"
    T2_0=$(date +%s.%N)
    start_signer a "$PIN"
    start_signer b "$PIN2"
    wait_done "$TMP/done2"
    T2_1=$(cat "$TMP/done2")
    stop_signers
    CPU2A=$(cpu_of a)
    CPU2B=$(cpu_of b)
    STORED2=$(redis-cli -p "$PORT" eval "return #redis.call('keys', 'revoca:ocsp:bench:*')" 0)
fi

echo "openssl speed -seconds 3 $ALG, again"
OSSL2=$(ossl_speed)

$PY - "$N" "$EVENTS" "$IMPORT_RATE" "$T0" "$T1" "$SIGNED" "$OSSL1" "$OSSL2" "$STORED" "$CPU" "$RCPU" "$ALG" "$COMPUTED" "$ON_NS" "$RUNQ_NS" <<'PY'
import sys
(n, events, imp, t0, t1, signed, ossl1, ossl2, stored, cpu, rcpu, alg,
 computed, on_ns, runq_ns) = sys.argv[1:]
on, runq = float(on_ns) / 1e9, float(runq_ns) / 1e9
n, events, imp, signed, stored = int(n), int(events), float(imp), int(signed), int(stored)
secs = float(t1) - float(t0)
ossl1, ossl2 = float(ossl1), float(ossl2)
ossl = max(ossl1, ossl2)
rate = signed / secs
cpu = float(cpu)
print()
print("| measure | value | target |")
print("|---|---|---|")
print("| certificates (10%% revoked) | %d | |" % n)
print("| responses stored | %d | %d |" % (stored, n))
print("| import into the stream | %.0f events/s (%d events) | >= 50,000 events/s |" % (imp, events))
print("| signer, import to all responses stored | %.1f s | |" % secs)
print("| signer end-to-end | %.0f signatures/s (%.0f certificates/s) | |" % (rate, n / secs))
print("| openssl speed %s sign (1 core), before / after | %.0f / %.0f sign/s | |" % (alg, ossl1, ossl2))
print("| us per signature: end to end / signer CPU / openssl speed | %.1f / %.1f / %.1f | |"
      % (1e6 * secs / signed, 1e6 * cpu / signed, 1e6 / ossl))
print("| signer busy (CPU time / wall, one process) | %.1f s, %.0f%% | |" % (cpu, 100 * cpu / secs))
if on > 0:
    blocked = max(secs - on - runq, 0)
    print("| signer wall: on a CPU / runnable, waiting for a CPU (other load) / blocked on Redis | %.0f%% / %.0f%% / %.0f%% | |"
          % (100 * on / secs, 100 * runq / secs, 100 * blocked / secs))
    print("| us per signature without the other load (CPU + blocked) / openssl speed: ratio | %.1f / %.1f: %.2f | |"
          % (1e6 * (on + blocked) / signed, 1e6 / ossl, (1e6 / ossl) / (1e6 * (on + blocked) / signed)))
print("| redis-server CPU time meanwhile | %.1f s (%.0f%% of wall) | |" % (float(rcpu), 100 * float(rcpu) / secs))
print("| signatures computed / committed (a repeated batch signs again) | %s / %d | equal |"
      % (computed or "n/a", signed))
print("| ratio signer / openssl (the faster run) | %.2f | >= 0.85 |" % (rate / ossl))
PY
echo
echo "signer: $(grep -o "stopped .*" "$TMP/one.log")"; echo "signer: $(grep -o "time wall_ms.*" "$TMP/one.log" || true)"

if [[ -n $T2_0 ]]; then
    $PY - "$N" "$EVENTS" "$T2_0" "$T2_1" "$T0" "$T1" "$SIGNED" "$CPU2A" "$CPU2B" "$STORED2" \
        "$(field signed "$TMP/a.log")" "$(field signed "$TMP/b.log")" \
        "$(field computed "$TMP/a.log")" "$(field computed "$TMP/b.log")" \
        "$(field conflicts "$TMP/a.log")" "$(field conflicts "$TMP/b.log")" \
        "$(field events "$TMP/a.log")" "$(field events "$TMP/b.log")" "${SIGNER2_CORE:-0}" <<'PY'
import sys
a = sys.argv[1:]
n, events = int(a[0]), int(a[1])
secs2 = float(a[3]) - float(a[2])
secs1 = float(a[5]) - float(a[4])
signed1 = int(a[6])
cpu_a, cpu_b, stored = float(a[7]), float(a[8]), int(a[9])
num = lambda v: int(v) if v else None
sa, sb, ca, cb, xa, xb, ea, eb = map(num, a[10:18])
core2 = a[18]
tot = lambda x, y: None if x is None or y is None else x + y
show = lambda v: "n/a" if v is None else "%d" % v
print()
print("Two signers, signer b on core %s (%s):" % (core2, "sharing signer a's core: "
      "shows the work split without repeats, not scaling" if core2 == "0" else
      "its own core"))
print()
print("| measure | a | b | both | target |")
print("|---|---|---|---|---|")
print("| signatures committed | %s | %s | %s | %d (2 per certificate) |" % (show(sa), show(sb), show(tot(sa, sb)), 2 * n))
print("| signatures computed | %s | %s | %s | = committed |" % (show(ca), show(cb), show(tot(ca, cb))))
print("| WATCH conflicts (batches repeated) | %s | %s | %s | 0 |" % (show(xa), show(xb), show(tot(xa, xb))))
print("| entries acknowledged | %s | %s | %s | %d events |" % (show(ea), show(eb), show(tot(ea, eb)), events))
print("| CPU time | %.1f s | %.1f s | %.1f s | |" % (cpu_a, cpu_b, cpu_a + cpu_b))
print("| responses stored | | | %d | %d |" % (stored, n))
both = tot(sa, sb) or 0
print("| end-to-end rate | | | %.0f signatures/s (%.2f of one signer's) | |" % (both / secs2, (both / secs2) / (signed1 / secs1)))
PY
fi
echo
echo "Redis's own time per command while the single signer ran (INFO commandstats;"
echo "commands inside MULTI are counted again in EXEC):"
awk -v n="$N" '{ printf "  %-12s calls %9d  %7.2f s  %6.2f us per certificate\n", $1, $2, $3 / 1e6, $3 / n }' <<<"$REDIS_STATS"
if [[ -n ${PERF:-} ]]; then
    echo
    echo "perf report of the single signer (self time, top entries): $PERF/perf.txt"
    grep -E '^ +[0-9]' "$PERF/perf.txt" | head -30
fi
