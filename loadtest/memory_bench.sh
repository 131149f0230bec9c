#!/usr/bin/env bash
# Redis memory per certificate benchmark (issue 10).  Not a test.
#
#   loadtest/memory_bench.sh [N]      (default 1000000 certificates)
#
# Makes an `openssl ca`-style index of N certificates (10% revoked), with a
# delegated responder (loadtest/lib.sh), imports it with `revoca import` into
# a fresh Redis on a free loopback port and signs every response with one
# revoca-signer.  Then it prints Redis's used_memory (INFO memory) before the
# import and after the signing, the event stream left out (it is the audit
# trail, trimmed after archiving, not a per-certificate cost: its size is
# printed apart), divided by N; the share of each kind of key (MEMORY USAGE
# on a sample of 1,000 keys of each per-certificate kind, SAMPLES 0 on the
# per-issuer keys); and how many certificates a 64 GB Redis holds at that
# rate.  Everything it starts listens on 127.0.0.1 and is stopped at exit.
#
# Redis runs with its defaults (listpack limits included) and without AOF:
# the AOF's buffers are not the data set.  REDIS_ARGS adds redis-server
# options (e.g. "--hash-max-listpack-value 1024" to see a listpack hash).
# The serials are the shared workload's (loadtest/lib.sh: 3 octets);
# BENCH_SERIAL_OCTETS=6..20 makes them that long instead, as a CA's are
# (16-20 octets), every tenth still revoked.  BENCH_SUBJECT="CN=..." then
# adds that subject to every record (as `revoca issue --cert` stores it)
# and prints what it costs per certificate.
set -euo pipefail

N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-mem-bench.XXXXXX)
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

for x in "$BUILD/responder/revoca-signer" "$BUILD/feeds/revoca"; do
    [[ -x $x ]] || { echo "missing $x: build first (deploy/dev build)" >&2; exit 1; }
done

START=$(date +%s)
$PY "$ROOT/deploy/demo_pki.py" "$TMP/pki" >/dev/null
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly no \
    --save "" --daemonize yes --logfile "$TMP/redis.log" ${REDIS_ARGS:-}
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done

bench_conf "$PORT" "$TMP/revoca.conf"
OCTETS=${BENCH_SERIAL_OCTETS:-}
# serials: a fixed positive prefix, then a 10-digit hex counter
PREFIX=
if [[ -n $OCTETS ]]; then
    ((OCTETS >= 6 && OCTETS <= 20)) || { echo "BENCH_SERIAL_OCTETS: 6..20" >&2; exit 2; }
    PREFIX=$(printf '7%s' "$(printf 'c3a5e9d1b7f2046a8e1d3c5b7a9f0e2d4c6b8a' | cut -c1-$((2 * OCTETS - 11)))")
fi
echo "generating index of $N certificates (10% revoked${OCTETS:+, $OCTETS-octet serials})"
if [[ -z $PREFIX ]]; then
    bench_index "$N" "$TMP/index.txt"
else
    awk -v n="$N" -v p="$PREFIX" 'BEGIN {
        for (i = 0; i < n; i++) {
            s = sprintf("%s%010X", toupper(p), 1048576 + i)
            if (i % 10 == 0)
                printf "R\t301231235959Z\t260102030405Z,keyCompromise\t%s\tunknown\t/CN=c%d\n", s, i
            else
                printf "V\t301231235959Z\t\t%s\tunknown\t/CN=c%d\n", s, i
        }
    }' >"$TMP/index.txt"
fi

used_memory() { redis-cli -p "$PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
BEFORE=$(used_memory)

echo "revoca import"
"$BUILD/feeds/revoca" -c "$TMP/revoca.conf" import --issuer bench \
    --openssl-index "$TMP/index.txt" | sed 's/^/  /'

echo "revoca-signer: signing every response"
"$BUILD/responder/revoca-signer" -c "$TMP/revoca.conf" >"$TMP/signer.log" 2>&1 &
SIGNER_PID=$!
# Done when the group has read everything and holds nothing pending.
bench_wait_signed "$PORT" >/dev/null || exit 1
kill -TERM "$SIGNER_PID"; wait "$SIGNER_PID" || true; SIGNER_PID=

$PY - "$PORT" "$N" "$BEFORE" "$START" "$PREFIX" <<'PY'
import sys, time, redis
port, n, before, start = (int(a) for a in sys.argv[1:5])
prefix = sys.argv[5]
r = redis.Redis(host="127.0.0.1", port=port)

def mem(key, samples=None):
    if samples is None:
        return r.memory_usage(key) or 0
    return r.execute_command("MEMORY", "USAGE", key, "SAMPLES", samples) or 0

# The stream is the audit trail, not a per-certificate cost: measured,
# then dropped before used_memory is read.
stream = mem("revoca:events", 0)
stream_len = r.xlen("revoca:events")
r.delete("revoca:events")
time.sleep(1)  # lazyfree, if any, has finished
after = int(r.info("memory")["used_memory"])
ocsp_keys = r.dbsize()

# 1,000 certificates spread over all N: serials 0x100000.. (lib.sh)
sample = [prefix + ("%010x" if prefix else "%x") % (1048576 + i)
          for i in range(0, n, max(1, n // 1000))]
rows = []
for kind, fmt in (("P:ocsp:ISSUER:SERIAL (pre-signed responses)",
                   "revoca:ocsp:bench:%s"),
                  ("P:cert:ISSUER:SERIAL (status record)",
                   "revoca:cert:bench:%s"),
                  ("P:history:ISSUER:SERIAL (events applied, signer.history)",
                   "revoca:history:bench:%s")):
    p = r.pipeline(transaction=False)
    for s in sample:
        p.execute_command("MEMORY", "USAGE", fmt % s)
    got = [v for v in p.execute() if v is not None]
    rows.append((kind + ", mean of %d" % len(got),
                 sum(got) / len(got) if got else 0))
    if fmt.startswith("revoca:ocsp"):
        enc = r.object("encoding", fmt % sample[0])
        ty = r.type(fmt % sample[0])
        rows[-1] = (rows[-1][0] + " [%s %s]" % (ty.decode(), enc.decode()),
                    rows[-1][1])
per_issuer = 0
for key in sorted(r.scan_iter("revoca:due:*")) + \
        sorted(r.scan_iter("revoca:revoked:*")) + \
        sorted(r.scan_iter("revoca:revlog:*")) + \
        sorted(r.scan_iter("revoca:changes:*")):
    v = mem(key, 0)
    per_issuer += v
    rows.append(("%s (whole key / N) [%s]" % (key.decode(),
                 r.object("encoding", key).decode()), v / n))
used = (after - before) / n
print()
print("certificates: %d (10%% revoked), delegated responder (ECDSA P-256),"
      " serials like %s" % (n, sample[-1]))
print("keys after signing: %d; stream of %d events (%d bytes, %.0f B per"
      " event) dropped before measuring" % (ocsp_keys, stream_len, stream,
                                          stream / max(1, stream_len)))
print()
print("| component | bytes per certificate |")
print("|---|---|")
for k, v in rows:
    print("| %s | %.0f |" % (k, v))
print("| sum of the components | %.0f |" % sum(v for _, v in rows))
print("| **used_memory after - before, / N** | **%.0f** |" % used)
print()
print("used_memory before %d, after %d (stream dropped)" % (before, after))
cap = 64 * 2**30
print("capacity of a 64 GB Redis (64 GiB of used_memory, no headroom): "
      "%.1f million certificates" % (cap / used / 1e6))
print("with 25%% headroom (maxmemory at 48 GiB, as one would run it): "
      "%.1f million" % (cap * 0.75 / used / 1e6))

# BENCH_SUBJECT: what a certificate's subject (record field 11, issue 14
# section 5) costs: the same subject appended to every record, and to the
# revoked hashes' copies, then used_memory read again.
import os
subject = os.environ.get("BENCH_SUBJECT", "").encode()
if subject:
    field = b"\x5a" + bytes([len(subject)]) + subject
    assert len(subject) < 128
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, match="revoca:cert:*", count=1000)
        if keys:
            vals = r.mget(keys)
            p = r.pipeline(transaction=False)
            for k, v in zip(keys, vals):
                if v is not None:
                    p.set(k, v + field)
            p.execute()
        if cursor == 0:
            break
    for key in r.scan_iter("revoca:revoked:*"):
        for f, v in r.hscan_iter(key, count=1000):
            r.hset(key, f, v + field)
    time.sleep(1)
    with_subject = int(r.info("memory")["used_memory"])
    print()
    print("with a subject of %d bytes (%s) in every record: used_memory %d,"
          " +%.1f bytes per certificate (%.0f -> %.0f)" % (
              len(subject), subject.decode(), with_subject,
              (with_subject - after) / n, used,
              (with_subject - before) / n))
print("runtime: %d s" % (time.time() - start))
PY
