# deploy/dev hook: nginx with ngx_http_revoca_module (docs/nginx.md).
# Sourced by deploy/dev; uses $REVOCA_ROOT, $REVOCA_HOME, $REVOCA_BUILD and
# $REVOCA_CONF.  Debian's own /usr/sbin/nginx, prefix $REVOCA_HOME/nginx,
# 127.0.0.1:8080: OCSP at /ocsp, CRLs ($REVOCA_HOME/crl) at /crl/.

nginx_packages() {
    # nginx-dev: the source tree the module is built against; the rest are
    # the independent clients of tests/nginx and loadtest/ocsp_bench.sh,
    # with Go's x/crypto/ocsp and Java's PKIX checker (tests/judges)
    echo nginx nginx-dev libpcre2-dev zlib1g-dev gnutls-bin libnss3-tools \
        wrk golang-cfssl curl golang-go golang-golang-x-crypto-dev \
        openjdk-17-jdk-headless
}

nginx_up() {
    local prefix=$REVOCA_HOME/nginx i user=""
    local module=$REVOCA_BUILD/ngx_module/ngx_http_revoca_module.so
    [[ -f $module ]] || { echo "dev: $module not built" >&2; return 1; }
    mkdir -p "$prefix/tmp" "$REVOCA_HOME/run" "$REVOCA_HOME/log" "$REVOCA_HOME/crl"
    # as root, nginx's workers would run as nobody: keep them able to read
    # .revoca/ by running them as the invoking user
    [[ $(id -u) -eq 0 ]] && user="user root root;"
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@MODULE@|$module|g" \
        -e "s|@BUILD@|$REVOCA_BUILD|g" -e "s|@RUN@|$REVOCA_HOME/run|g" \
        -e "s|@LOG@|$REVOCA_HOME/log|g" -e "s|@REVOCA_CONF@|$REVOCA_CONF|g" \
        -e "s|@CRL_DIR@|$REVOCA_HOME/crl|g" -e "s|@USER@|$user|g" \
        -e "s|@TLS_DIR@|$REVOCA_HOME/demo/ingest|g" \
        "$REVOCA_ROOT/deploy/nginx/revoca-dev.conf.in" >"$prefix/nginx.conf"
    /usr/sbin/nginx -t -q -p "$prefix" -c "$prefix/nginx.conf" \
        -e "$REVOCA_HOME/log/nginx-error.log" ||
        { echo "dev: nginx -t failed (see $REVOCA_HOME/log/nginx-error.log)" >&2; return 1; }
    if [[ -f $REVOCA_HOME/run/nginx.pid ]] &&
        kill -0 "$(cat "$REVOCA_HOME/run/nginx.pid")" 2>/dev/null; then
        kill -HUP "$(cat "$REVOCA_HOME/run/nginx.pid")"   # reload
    else
        /usr/sbin/nginx -p "$prefix" -c "$prefix/nginx.conf" \
            -e "$REVOCA_HOME/log/nginx-error.log" ||
            { echo "dev: nginx did not start" >&2; return 1; }
    fi
    for i in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "dev: nginx is not listening on 127.0.0.1:8080" >&2
    return 1
}

nginx_down() {
    local pidf=$REVOCA_HOME/run/nginx.pid pid i
    [[ -f $pidf ]] || return 0
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
}

nginx_usage() {
    local d=$REVOCA_HOME/demo c
    echo "dev: OCSP at http://127.0.0.1:8080/ocsp (metrics /metrics," \
        "log $REVOCA_HOME/log/nginx-error.log); try:"
    for c in good revoked unissued; do
        echo "  openssl ocsp -issuer $d/issuer.pem -cert $d/$c.pem" \
            "-url http://127.0.0.1:8080/ocsp -CAfile $d/chain.pem -resp_text -no_nonce"
    done
}
