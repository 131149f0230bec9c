#!/usr/bin/env bash
# CRL generation benchmark (not a test): N revoked entries (default
# 1,000,000) of one issuer, full CRL by
#   revoca-crlgen --once        (from Redis, as the signer stores them)
#   openssl ca -gencrl          (from an index.txt with the same entries)
#   cfssl gencrl                (from the same serials)
# with wall time and peak RSS from /usr/bin/time -v, then the time of a
# delta CRL with 1,000 changes over that base.  Prints a table with ratios.
#
#   loadtest/crl_bench.sh [N]          REVOCA_BUILD=... to pick a build
#
# Bounded: every step runs under `timeout` (BENCH_TIMEOUT, default 900 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
N=${1:-1000000}
CHANGES=1000
LIMIT=${BENCH_TIMEOUT:-900}
PY=/usr/bin/python3

for tool in /usr/bin/time openssl cfssl redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "crl_bench: $tool is missing" >&2; exit 2; }
done
if [[ ! -x $BUILD/crlgen/revoca-crlgen || ! -x $BUILD/crlgen/crlgen-seed ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target revoca-crlgen crlgen-seed >/dev/null
fi

W=$(mktemp -d /tmp/revoca-crlbench.XXXXXX)
PORT=$(bench_port)
cleanup() {
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$W"
}
[[ -n ${KEEP:-} ]] || trap cleanup EXIT

redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$W" --daemonize yes --logfile "$W/redis.log" >/dev/null
for _ in $(seq 1 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

$PY "$ROOT/deploy/demo_pki.py" "$W/pki" >/dev/null
openssl ec -in "$W/pki/issuer.key" -out "$W/pki/issuer-ec.key" 2>/dev/null # cfssl 1.2 wants SEC1

cat >"$W/revoca.conf" <<CONF
redis = { host = "127.0.0.1"; port = $PORT; };
prefix = "revoca";
crl = { publish_dir = "pub"; base_url = "http://127.0.0.1:8080/crl/"; };
issuers = ( { name = "demo"; cert = "pki/issuer.pem"; key = "pki/issuer.key"; } );
CONF

echo "crl_bench: seeding $N revoked entries (Redis, index.txt, serials)" >&2
"$BUILD/crlgen/crlgen-seed" --issuer demo --count "$N" --seed 1 \
    --index "$W/index.txt" --serials "$W/serials.txt" |
    redis-cli -p "$PORT" --pipe >/dev/null

# time -v fields: wall seconds and max RSS (kB) of one command
measure() {
    local name=$1
    shift
    # the previous step's unwritten files are not this one's to flush: an
    # fsync (ext4, data=ordered) would wait for them
    sync
    /usr/bin/time -v -o "$W/$name.time" timeout "$LIMIT" "$@" >"$W/$name.out" 2>"$W/$name.err" || {
        echo "crl_bench: $name failed; see below" >&2
        tail -5 "$W/$name.err" >&2
        echo "FAILED 0 0"
        return 0
    }
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
                  for (i = 1; i <= n; i++) s = s * 60 + t[i]; wall = s }
                /User time|System time/ { cpu += $2 }
                /Maximum resident set size/ { rss = $2 }
                END { printf "%.3f %d %.2f\n", wall, rss, cpu }' "$W/$name.time"
}

echo "crl_bench: revoca-crlgen --once (full CRL)" >&2
# first run on a new machine: no snapshot, no published CRL; the entries
# come from the shard's revoked log, as the signer (and the seed) append it
# (-v: the debug lines time each phase, printed below)
read -r crl_t crl_m crl_c < <(measure crlgen_full "$BUILD/crlgen/revoca-crlgen" -c "$W/revoca.conf" --once -v)
# the same without the log (data written before logs existed): a scan of
# the hash, which also rebuilds the log
rm -rf "$W/pub" "$W/pub.state"
redis-cli -p "$PORT" del revoca:revlog:demo:0 >/dev/null
redis-cli -p "$PORT" config resetstat >/dev/null
read -r scan_t scan_m scan_c < <(measure crlgen_scan "$BUILD/crlgen/revoca-crlgen" -c "$W/revoca.conf" --once -v)
# Redis's own time executing the scan's HSCANs: the floor of that path
hscan_s=$(redis-cli -p "$PORT" info commandstats |
    awk -F'[=,]' '/^cmdstat_hscan:/ { printf "%.3f", $4 / 1e6 }')
grep -q 'revoked log not used' "$W/crlgen_scan.err" ||
    { echo "crl_bench: the no-log run did not scan" >&2; exit 1; }
grep -q 'revoked log not used' "$W/crlgen_full.err" &&
    { echo "crl_bench: the first run did not use the log" >&2; exit 1; }
# steady state: a re-sign starts from the entry snapshot plus the change log
# and is checked against the CRL it replaces
read -r crl2_t crl2_m crl2_c < <(measure crlgen_full2 "$BUILD/crlgen/revoca-crlgen" -c "$W/revoca.conf" --once)
openssl crl -inform DER -in "$W/pub/demo.crl" -CAfile "$W/pki/issuer.pem" -noout 2>&1 |
    grep -q "verify OK" || { echo "crl_bench: revoca-crlgen's CRL does not verify" >&2; exit 1; }
for run in crlgen_full crlgen_scan crlgen_full2; do
    n=$(grep -o 'kind=full file=demo.crl number=[0-9]* entries=[0-9]*' "$W/$run.err" | sed 's/.*entries=//')
    [[ $n == "$N" ]] || { echo "crl_bench: $run published ${n:-no} entries, not $N" >&2; exit 1; }
done
crl_n=$(grep -o 'kind=full file=demo.crl number=[0-9]* entries=[0-9]*' "$W/crlgen_full2.err" | sed 's/.*entries=//')
crl_bytes=$(stat -c %s "$W/pub/demo.crl")

echo "crl_bench: openssl ca -gencrl" >&2
mkdir -p "$W/ca/newcerts"
cp "$W/index.txt" "$W/ca/index.txt"
echo "unique_subject = no" >"$W/ca/index.txt.attr"
echo 01 >"$W/ca/crlnumber"
cat >"$W/ca/ca.cnf" <<CNF
[ ca ]
default_ca = bench
[ bench ]
dir = $W/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = $W/pki/issuer.pem
private_key = $W/pki/issuer.key
crlnumber = \$dir/crlnumber
default_md = sha256
default_crl_days = 7
CNF
read -r ossl_t ossl_m ossl_c < <(measure openssl_ca openssl ca -gencrl -config "$W/ca/ca.cnf" -out "$W/ca/crl.pem")

echo "crl_bench: cfssl gencrl" >&2
read -r cfssl_t cfssl_m cfssl_c < <(measure cfssl cfssl gencrl "$W/serials.txt" "$W/pki/issuer.pem" "$W/pki/issuer-ec.key")

echo "crl_bench: delta CRL with $CHANGES changes" >&2
"$BUILD/crlgen/crlgen-seed" --issuer demo --count "$CHANGES" --seed 2 --changes |
    redis-cli -p "$PORT" --pipe >/dev/null
read -r delta_t delta_m delta_c < <(measure crlgen_delta "$BUILD/crlgen/revoca-crlgen" -c "$W/revoca.conf" --once --delta)
delta_build=$(grep -o 'kind=delta .* seconds=[0-9.]*' "$W/crlgen_delta.err" | sed 's/.*seconds=//')
delta_n=$(grep -o 'kind=delta .* entries=[0-9]*' "$W/crlgen_delta.err" | sed 's/.*entries=//')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
row() { # name wall rss_kb cpu
    printf '%-46s %9s %12s %7s %14s %14s\n' "$1" "$2" "$(($3 / 1024))" "$4" \
        "$(ratio "$ossl_t" "$2")" "$(ratio "$ossl_m" "$3")"
}

echo
echo "CRL generation, $N revoked entries, ECDSA P-256 / SHA-256, $(nproc) CPUs"
# CPU s (user + system): what the process itself used, less sensitive to
# a loaded machine than wall time (which the ratios use)
printf '%-46s %9s %12s %7s %14s %14s\n' "generator" "wall s" "peak RSS MB" \
    "CPU s" "openssl t / t" "openssl M / M"
row "openssl ca -gencrl (index.txt)" "$ossl_t" "$ossl_m" "$ossl_c"
row "cfssl gencrl (serials)" "$cfssl_t" "$cfssl_m" "$cfssl_c"
row "revoca-crlgen --once, first (revoked log)" "$crl_t" "$crl_m" "$crl_c"
row "revoca-crlgen --once, first, no log (scan)" "$scan_t" "$scan_m" "$scan_c"
row "revoca-crlgen --once, re-sign (snapshot)" "$crl2_t" "$crl2_m" "$crl2_c"
row "revoca-crlgen --once --delta ($delta_n entries)" "$delta_t" "$delta_m" "$delta_c"
echo
echo "targets: full CRL <= 0.3 s, >= 40x openssl ca, <= 64 MB peak; no log (scan + rebuild) <= 1.5 s; delta <= 20 ms"
echo "revoca full CRL: ${crl_n:-?} entries, $crl_bytes bytes, verified by openssl crl"
echo "no-log run: Redis itself spent ${hscan_s:-?} s executing the HSCANs of the scan (INFO commandstats)"
echo "delta: read+build+sign+check+publish ${delta_build:-?} s; the whole process ${delta_t} s (config, key load, Redis connect)"
# seconds since the build began at the end of each phase (debug lines)
phases() {
    awk '/ issuer=demo / && !/delta/ && / seconds=/ {
            ev = $4
            for (i = 1; i <= NF; i++) if ($i ~ /^seconds=/) t = substr($i, 9)
            if (ev == "fetched" || ev == "built" || ev == "checked" ||
                (ev == "published" && !done++)) printf " %s %s", ev, t
         } END { print "" }' "$1"
}
echo "phases, first (revoked log), s:$(phases "$W/crlgen_full.err")"
echo "phases, no log (scan), s:$(phases "$W/crlgen_scan.err")"
