#!/usr/bin/env bash
# Throughput with an HSM (issue 11 part 2): the signer's pool of signing
# threads (signer.sign_threads) against the token's own rate.  Not a test.
#
#   loadtest/hsm_bench.sh [N]      (default 200000 certificates)
#
# Makes a SoftHSM2 token in a temp dir (its own SOFTHSM2_CONF) with an ECDSA
# P-256 key generated inside it (pkcs11-tool --keypairgen), a delegated
# responder certificate for that key (issued by the demo PKI's issuing CA
# from the public half read out of the token: the private key never leaves
# it), a fresh redis-server on a free loopback port, and an `openssl ca`
# index of N certificates (10% revoked, loadtest/lib.sh).  For each P in
# THREADS (default "1 2"):
#
#   - the token's limit: P threads each calling C_Sign through libp11's
#     engine (EVP_PKEY_sign on a 32-byte digest, loadtest/sign_rate.c, the
#     path responder/sign.c takes) for SIGN_SECONDS (default 5);
#   - the signer with sign_threads = P and the token key, end to end: Redis
#     emptied, the index imported (`revoca import --openssl-index`, not
#     timed), then from the signer's start until every response is in
#     Redis (the group has read everything and holds nothing pending);
#   - the file-key path the same way with the demo PKI's P-256 responder
#     key file, against `openssl speed -seconds 3 -multi P ecdsap256` (and
#     sign_rate on the file key, its wall-clock rate, for reference).
#
# Prints one table: path, threads, signatures/s, the limit and the ratio.
# Nothing is pinned to a core: with P = 2 on a two-core machine the
# signer's threads and Redis share both.  Note that `openssl speed`
# divides by CPU time, not wall time: on a loaded machine it reads higher
# than any wall-clock rate can be.  Everything it starts listens on
# 127.0.0.1 and is stopped at exit.  REVOCA_BUILD picks the build.
set -euo pipefail

N=${1:-200000}
THREADS=${THREADS:-1 2}
SIGN_SECONDS=${SIGN_SECONDS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
PY=/usr/bin/python3
SOFTHSM=${SOFTHSM:-/usr/lib/softhsm/libsofthsm2.so}
TMP=$(mktemp -d /tmp/revoca-hsm-bench.XXXXXX)
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

[[ -x $BUILD/responder/revoca-signer ]] || { echo "build first: deploy/dev build" >&2; exit 1; }
[[ -r $SOFTHSM ]] || { echo "SoftHSM2 missing (apt-get install softhsm2)" >&2; exit 1; }

cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -o "$TMP/sign_rate" \
    "$ROOT/loadtest/sign_rate.c" -lcrypto -lpthread

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The PKI, and the token with its key
$PY "$ROOT/deploy/demo_pki.py" --key-type ec "$TMP/pki" >/dev/null
export SOFTHSM2_CONF=$TMP/hsm/softhsm2.conf
mkdir -p "$TMP/hsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$TMP/hsm/tokens" >"$SOFTHSM2_CONF"
export REVOCA_PIN=bench-$RANDOM$RANDOM
softhsm2-util --init-token --free --label bench --pin "$REVOCA_PIN" \
    --so-pin "so-$REVOCA_PIN" >/dev/null
pkcs11-tool --module "$SOFTHSM" --login --pin "$REVOCA_PIN" --keypairgen \
    --key-type EC:prime256v1 --label ocsp --id 01 >/dev/null 2>&1
URI="pkcs11:token=bench;object=ocsp;type=private"
PKCS11_MODULE=$SOFTHSM openssl pkey -engine pkcs11 -inform engine \
    -in "pkcs11:token=bench;object=ocsp;type=public;pin-value=$REVOCA_PIN" \
    -pubout -out "$TMP/pki/hsm.pub" 2>/dev/null
# a request signed by a throwaway key; the certificate carries the token's
# public half instead (-force_pubkey)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/throwaway.key" -subj "/CN=Revoca bench HSM responder" \
    -out "$TMP/hsm.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\nnoCheck=ignored\n' \
    >"$TMP/hsm.ext"
openssl x509 -req -in "$TMP/hsm.csr" -CA "$TMP/pki/issuer.pem" \
    -CAkey "$TMP/pki/issuer.key" -force_pubkey "$TMP/pki/hsm.pub" \
    -set_serial 0x4853 -days 30 -sha256 -extfile "$TMP/hsm.ext" \
    -out "$TMP/pki/hsm-responder.pem" 2>/dev/null
rm -f "$TMP/throwaway.key"

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --appendonly yes \
    --appendfsync everysec --save "" --daemonize yes --logfile "$TMP/redis.log"
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done

# conf PATH THREADS: the config of one run (file key, or the token's)
conf() {
    bench_conf "$PORT" "$1.tmp"
    sed "s/^signer = { \(.*\) };/signer = { \1 sign_threads = $2; };/" "$1.tmp" >"$1"
    rm -f "$1.tmp"
    if [[ $3 == hsm ]]; then
        sed -i -e "s|responder_cert = \"pki/responder.pem\"|responder_cert = \"pki/hsm-responder.pem\"|" \
            -e "s|responder_key = \"pki/responder.key\"|responder_key = \"$URI\"|" "$1"
        echo "pkcs11 = { module = \"$SOFTHSM\"; pin_env = \"REVOCA_PIN\"; };" >>"$1"
    fi
}

echo "generating index of $N certificates (10% revoked)"
bench_index "$N" "$TMP/index.txt"

wait_done() { bench_wait_signed "$PORT"; }

# signer_run NAME THREADS KIND: signatures per second, end to end
signer_run() {
    local name=$1 t0 t1 signed stored
    conf "$TMP/$name.conf" "$2" "$3"
    redis-cli -p "$PORT" flushall >/dev/null
    "$BUILD/feeds/revoca" -c "$TMP/$name.conf" import --issuer bench \
        --openssl-index "$TMP/index.txt" >/dev/null
    t0=$(date +%s.%N)
    "$BUILD/responder/revoca-signer" -c "$TMP/$name.conf" >"$TMP/$name.log" 2>&1 &
    SIGNER_PID=$!
    t1=$(wait_done)
    kill -TERM "$SIGNER_PID"
    wait "$SIGNER_PID" || true
    SIGNER_PID=
    signed=$(sed -n 's/.*stopped.* signed=\([0-9]*\).*/\1/p' "$TMP/$name.log")
    stored=$(redis-cli -p "$PORT" eval "return #redis.call('keys', 'revoca:ocsp:bench:*')" 0)
    if [[ $stored != "$N" ]]; then
        echo "$name: $stored responses stored, not $N" >&2
        tail -5 "$TMP/$name.log" >&2
        exit 1
    fi
    if grep -q " error " "$TMP/$name.log"; then
        echo "$name: the signer logged errors:" >&2
        grep " error " "$TMP/$name.log" | head -3 >&2
        exit 1
    fi
    echo "$signed $t0 $t1" | awk '{printf "%.0f\n", $1 / ($3 - $2)}'
}

ossl_speed() {
    openssl speed -seconds 3 -multi "$1" ecdsap256 2>/dev/null |
        awk '/256 bits ecdsa \(nistp256\)/ {v = $(NF-1)} END {print v}'
}
raw_rate() {
    PKCS11_MODULE=$SOFTHSM "$TMP/sign_rate" "$1" "$2" "$SIGN_SECONDS" |
        sed -n 's/.*per_s=\([0-9]*\).*/\1/p'
}

ROWS=()
for P in $THREADS; do
    echo "threads=$P: the token's limit ($P x C_Sign for ${SIGN_SECONDS}s)"
    HSM_LIMIT=$(raw_rate "$URI" "$P")
    echo "threads=$P: the signer with the token key"
    HSM_RATE=$(signer_run "hsm$P" "$P" hsm)
    echo "threads=$P: openssl speed -seconds 3 -multi $P ecdsap256, and the file key's wall-clock rate"
    OSSL=$(ossl_speed "$P")
    FILE_RAW=$(raw_rate "$TMP/pki/responder.key" "$P")
    echo "threads=$P: the signer with the file key"
    FILE_RATE=$(signer_run "file$P" "$P" file)
    ROWS+=("$(printf '| SoftHSM2 token, P-256 | %d | %s | %s (%d x C_Sign, same engine) | %s |' \
        "$P" "$HSM_RATE" "$HSM_LIMIT" "$P" "$(echo "$HSM_RATE $HSM_LIMIT" | awk '{printf "%.2f", $1 / $2}')")")
    ROWS+=("$(printf '| file key, P-256 | %d | %s | %s (openssl speed -multi %d) | %s |' \
        "$P" "$FILE_RATE" "$OSSL" "$P" "$(echo "$FILE_RATE $OSSL" | awk '{printf "%.2f", $1 / $2}')")")
    ROWS+=("$(printf '| file key, P-256 | %d | %s | %s (%d x EVP_PKEY_sign, wall clock) | %s |' \
        "$P" "$FILE_RATE" "$FILE_RAW" "$P" "$(echo "$FILE_RATE $FILE_RAW" | awk '{printf "%.2f", $1 / $2}')")")
done

echo
echo "N=$N certificates ($((2 * N)) signatures a run), $(nproc) cores, load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| path | threads | signer end to end, signatures/s | limit, signatures/s | ratio |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo "targets: token >= 0.80 of its limit, file key >= 0.60 of openssl speed"
