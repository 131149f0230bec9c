# Shared by the loadtest/ benchmarks (sourced): the one workload they all
# measure.  Not a test.

# bench_conf PORT FILE: the shared config for issuer "bench" (the demo
# PKI in the config file's directory, pki/), Redis on 127.0.0.1:PORT;
# SIGNER_BATCH and SIGNER_HISTORY set signer.batch and signer.history
bench_conf() {
    cat >"$2" <<CONF
redis = { host = "127.0.0.1"; port = $1; };
signer = { batch = ${SIGNER_BATCH:-512};${SIGNER_HISTORY:+ history = $SIGNER_HISTORY;} };
issuers = ( { name = "bench"; cert = "pki/issuer.pem";
  responder_cert = "pki/responder.pem"; responder_key = "pki/responder.key";
  validity = "4d"; } );
CONF
}

# bench_index N FILE: an `openssl ca` index of N certificates, serials
# 0x100000.., every tenth revoked (keyCompromise)
bench_index() {
    awk -v n="$1" 'BEGIN {
        for (i = 0; i < n; i++) {
            s = sprintf("%X", 1048576 + i)
            if (i % 10 == 0)
                printf "R\t301231235959Z\t260102030405Z,keyCompromise\t%s\tunknown\t/CN=c%d\n", s, i
            else
                printf "V\t301231235959Z\t\t%s\tunknown\t/CN=c%d\n", s, i
        }
    }' >"$2"
}

# bench_port: a free port on 127.0.0.1
bench_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_wait_signed PORT: waits until the signer's consumer group on the
# Redis at 127.0.0.1:PORT has read everything and holds nothing pending,
# and prints the time it saw that (unix seconds).  One polling process with
# one connection: forking redis-cli several times a second would take CPU
# from the signer on a two-core machine.  Gives up after 30 minutes.
bench_wait_signed() {
    /usr/bin/python3 - "$1" <<'PY' || { echo "gave up after 30 minutes" >&2; return 1; }
import sys, time, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
deadline = time.monotonic() + 1800
while time.monotonic() < deadline:
    groups = {g["name"]: g for g in r.xinfo_groups("revoca:events")}
    g = groups.get(b"signer") or groups.get("signer")
    if g is not None and g.get("lag") == 0 and g.get("pending") == 0:
        print("%.6f" % time.time())
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
}
