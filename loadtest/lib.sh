# Shared by the loadtest/ benchmarks (sourced): the one workload they all
# measure.  Not a test.

# bench_conf PORT FILE: the shared config for issuer "bench" (the demo
# PKI in the config file's directory, pki/), Redis on 127.0.0.1:PORT
bench_conf() {
    cat >"$2" <<CONF
redis = { host = "127.0.0.1"; port = $1; };
signer = { batch = ${SIGNER_BATCH:-512}; };
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
