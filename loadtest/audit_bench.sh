#!/usr/bin/env bash
# Audit chain, archive and verification rates (not a test): N entries
# (default 100000) chained, archived to segments and trimmed, then
# `revoca audit verify` over N archived + N in the stream
# (loadtest/audit_bench.py).
#
#   loadtest/audit_bench.sh [N]        REVOCA_BUILD=... to pick a build
#
# Bounded: the whole run under `timeout` (BENCH_TIMEOUT, default 1800 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REVOCA_BUILD=${REVOCA_BUILD:-$ROOT/build}
N=${1:-100000}
if [[ ! -x $REVOCA_BUILD/responder/revoca-audit || ! -x $REVOCA_BUILD/feeds/revoca ]]; then
    echo "audit_bench: build first ($REVOCA_BUILD)" >&2
    exit 2
fi
exec timeout "${BENCH_TIMEOUT:-1800}" /usr/bin/python3 "$ROOT/loadtest/audit_bench.py" "$N"
