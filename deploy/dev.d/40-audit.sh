# deploy/dev hook: revoca-audit (docs/audit.md).  Sourced by deploy/dev;
# uses $REVOCA_HOME, $REVOCA_BUILD and $REVOCA_CONF.  Chains every event of
# the stream, writes signed checkpoints and archives old events to
# $REVOCA_HOME/audit; `revoca audit verify` checks it all.

audit_up() {
    local pidf=$REVOCA_HOME/run/audit.pid
    local bin=$REVOCA_BUILD/responder/revoca-audit
    mkdir -p "$REVOCA_HOME/audit" "$REVOCA_HOME/run" "$REVOCA_HOME/log"
    if ! grep -q '^audit' "$REVOCA_CONF"; then
        # a configuration written before the audit daemon existed
        echo "dev: no audit group in $REVOCA_CONF: revoca-audit not started" \
            "(deploy/dev down, remove the file, deploy/dev up)" >&2
        return 0
    fi
    pid_alive "$pidf" && return 0
    # A configuration it rejects should stop `up` with its message.
    "$bin" -c "$REVOCA_CONF" --check >/dev/null ||
        { echo "dev: revoca-audit rejects $REVOCA_CONF" >&2; return 1; }
    setsid "$bin" -c "$REVOCA_CONF" >>"$REVOCA_HOME/log/audit.log" 2>&1 </dev/null &
    echo $! >"$pidf"
}

audit_down() {
    stop_pid "$REVOCA_HOME/run/audit.pid"   # deploy/dev
}

audit_usage() {
    echo "dev: revoca-audit chains every event (archive $REVOCA_HOME/audit," \
        "log $REVOCA_HOME/log/audit.log); check it: $REVOCA_BUILD/feeds/revoca" \
        "-c $REVOCA_CONF audit verify"
}
