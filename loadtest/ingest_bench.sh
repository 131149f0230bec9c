#!/usr/bin/env bash
# HTTPS event ingest benchmark (issue 13).  Not a test.
#
#   loadtest/ingest_bench.sh [SECONDS] [N]   (default 10 s per row; the
#                                             import of N = 200000 certs)
#
# Events per second accepted by the revoca_ingest location of nginx
# (worker_processes 2, TLS with a client certificate, keep-alive): issue
# events, one per request and BATCH (default 1000) per request, sent by
# loadtest/ingest_client.py (PROCS processes, one connection each: wrk
# cannot present a client certificate); beside them, `revoca import
# --openssl-index` of N certificates (10% revoked) into the same Redis on
# the same machine, the CLI's bulk path.  Accepted means written to Redis
# (XADD, acknowledged by the primary); no signer runs, so the figures are
# the write path's own.  Each row is bounded by SECONDS; everything listens
# on free 127.0.0.1 ports and is stopped at exit.  Target (issue 13):
# at least 20,000 events/s batched.
set -euo pipefail

DUR=${1:-10}
N=${2:-200000}
BATCH=${BATCH:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/loadtest/lib.sh"
BUILD=${REVOCA_BUILD:-$ROOT/build}
MODULE=$BUILD/ngx_module/ngx_http_revoca_module.so
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/revoca-ingest-bench.XXXXXX)
RPORT=$(bench_port)
HPORT=$(bench_port)
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

for x in "$BUILD/feeds/revoca" "$MODULE"; do
    [[ -e $x ]] || { echo "missing $x: build first (deploy/dev build)" >&2; exit 1; }
done

$PY "$ROOT/deploy/demo_pki.py" "$TMP/pki" >/dev/null
# the TLS side: a CA, the server's certificate, one client's
$PY - "$TMP/tls" <<'PY'
import datetime, ipaddress, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
d = sys.argv[1]; os.makedirs(d)
now = datetime.datetime.utcnow(); day = datetime.timedelta(days=1)
def cert(cn, key, ca=None, ca_key=None, ip=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(ca.subject if ca else name).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - day).not_valid_after(now + day)
         .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True))
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(ca_key or key, hashes.SHA256())
def save(stem, c, k):
    open(os.path.join(d, stem + ".pem"), "wb").write(c.public_bytes(serialization.Encoding.PEM))
    open(os.path.join(d, stem + ".key"), "wb").write(k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
ck = ec.generate_private_key(ec.SECP256R1()); ca = cert("bench TLS CA", ck)
save("ca", ca, ck)
for stem, ip in (("server", True), ("client", False)):
    k = ec.generate_private_key(ec.SECP256R1())
    save(stem, cert(stem, k, ca, ck, ip), k)
PY

redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP" --appendonly no \
    --save "" --daemonize yes --logfile "$TMP/redis.log"
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done
bench_conf "$RPORT" "$TMP/revoca.conf"

mkdir -p "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<CONF
load_module $MODULE;
$( [[ $(id -u) == 0 ]] && echo "user root root;" )
worker_processes 2;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp;
    revoca_config $TMP/revoca.conf;
    revoca_cache_zone off;
    server {
        listen 127.0.0.1:$HPORT ssl;
        ssl_certificate $TMP/tls/server.pem;
        ssl_certificate_key $TMP/tls/server.key;
        ssl_client_certificate $TMP/tls/ca.pem;
        ssl_verify_client on;
        keepalive_requests 1000000;
        client_max_body_size 8m;
        client_body_buffer_size 1m;
        location = /ingest {
            revoca_ingest;
            revoca_ingest_client bench "subject=CN=client" issuers=bench;
        }
    }
}
CONF
/usr/sbin/nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g "daemon off;" &
PIDS+=("$!")
for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$HPORT") 2>/dev/null && break
    sleep 0.1
done

CLIENT="$PY $ROOT/loadtest/ingest_client.py $HPORT $TMP/tls/client.pem $TMP/tls/client.key $TMP/tls/ca.pem"

row() {  # LABEL PROCS BATCH: one row; sets RATE
    local out before after
    before=$(redis-cli -p "$RPORT" xlen revoca:events)
    out=$($CLIENT "$2" "$3" "$DUR")
    after=$(redis-cli -p "$RPORT" xlen revoca:events)
    read -r reqs evs secs refused <<<"$out"
    [[ $refused == 0 ]] || { echo "$1: $refused refused" >&2; tail "$TMP/nginx/error.log" >&2; exit 1; }
    (( after - before == evs )) || { echo "$1: $evs accepted, $((after - before)) in the stream" >&2; exit 1; }
    RATE=$(awk -v e="$evs" -v s="$secs" 'BEGIN { printf "%.0f", e / s }')
    printf "%-34s %8d req %9d events %6.1f s %9d events/s\n" "$1" "$reqs" "$evs" "$secs" "$RATE"
}

echo "== HTTPS ingest (nginx 2 workers, client certificate, keep-alive), ${DUR}s per row"
row "ingest single, 4 connections" 4 1
SINGLE=$RATE
row "ingest batch $BATCH, 2 connections" 2 "$BATCH"
BATCHED=$RATE

echo "== revoca import --openssl-index, $N certificates (10% revoked)"
bench_index "$N" "$TMP/index.txt"
redis-cli -p "$RPORT" del revoca:events >/dev/null
t0=$(date +%s.%N)
timeout "$((DUR * 30))" "$BUILD/feeds/revoca" -c "$TMP/revoca.conf" import \
    --issuer bench --openssl-index "$TMP/index.txt" >/dev/null
t1=$(date +%s.%N)
IEV=$(redis-cli -p "$RPORT" xlen revoca:events)
IMPORT=$(awk -v e="$IEV" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", e / (b - a) }')
printf "%-34s %8s     %9d events %6.1f s %9d events/s\n" "revoca import (bulk)" "" "$IEV" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$IMPORT"

echo "== ratios"
awk -v s="$SINGLE" -v b="$BATCHED" -v i="$IMPORT" 'BEGIN {
    printf "batched / single %.1fx, batched / import %.2fx, single / import %.2fx\n", b / s, b / i, s / i
    printf "target >= 20000 events/s batched: %s\n", ((b >= 20000) ? "met" : "NOT met")
}'
