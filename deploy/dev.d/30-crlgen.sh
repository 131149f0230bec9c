# deploy/dev hook: revoca-crlgen (docs/crl.md).  Sourced by deploy/dev;
# uses $REVOCA_ROOT, $REVOCA_HOME, $REVOCA_BUILD and $REVOCA_CONF.
# Publishes into $REVOCA_HOME/crl, which nginx serves at /crl/.

crlgen_packages() {
    # CRL checkers used by tests/crl (Go's crypto/x509 of tests/judges
    # among them), and cfssl for loadtest/crl_bench.sh
    echo gnutls-bin libnss3-tools golang-cfssl golang-go \
        golang-golang-x-crypto-dev
}

crlgen_up() {
    local pidf=$REVOCA_HOME/run/crlgen.pid i
    mkdir -p "$REVOCA_HOME/crl" "$REVOCA_HOME/run" "$REVOCA_HOME/log"
    if ! [[ -f $pidf ]] || ! kill -0 "$(cat "$pidf")" 2>/dev/null; then
        # A configuration it rejects should stop `up` with its message.
        "$REVOCA_BUILD/crlgen/revoca-crlgen" -c "$REVOCA_CONF" --check >/dev/null ||
            { echo "dev: revoca-crlgen rejects $REVOCA_CONF" >&2; return 1; }
        setsid "$REVOCA_BUILD/crlgen/revoca-crlgen" -c "$REVOCA_CONF" \
            >>"$REVOCA_HOME/log/crlgen.log" 2>&1 </dev/null &
        echo $! >"$pidf"
    fi
    # up returns once the demo issuer's full and delta CRLs are published
    for i in $(seq 1 300); do
        [[ -s $REVOCA_HOME/crl/demo.crl && -s $REVOCA_HOME/crl/demo-delta.crl ]] &&
            return 0
        kill -0 "$(cat "$pidf")" 2>/dev/null || break
        sleep 0.1
    done
    echo "dev: revoca-crlgen published no CRL (see $REVOCA_HOME/log/crlgen.log)" >&2
    return 1
}

crlgen_down() {
    stop_pid "$REVOCA_HOME/run/crlgen.pid"   # deploy/dev
}

crlgen_usage() {
    echo "dev: CRLs in $REVOCA_HOME/crl (http://127.0.0.1:8080/crl/demo.crl," \
        "demo-delta.crl); metrics $REVOCA_HOME/crl.prom; log $REVOCA_HOME/log/crlgen.log"
}
