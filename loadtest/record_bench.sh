#!/usr/bin/env bash
# Micro-benchmark of the stored-record decoder (not a test): ns per record
# for ocsp_record_decode() against the protobuf-c path it replaced, and for
# ocsp_serial_fixed_from_hex(); see record_bench.c.
#
#   loadtest/record_bench.sh [CALLS]     REVOCA_BUILD=... to pick a build
#
# Bounded: CALLS (default 2,000,000) per row, under `timeout` (120 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REVOCA_BUILD:-$ROOT/build}
CALLS=${1:-2000000}

if [[ ! -f $BUILD/responder/libocspcore.a ]]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j2 --target ocspcore >/dev/null
W=$(mktemp -d /tmp/revoca-recbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
# -O2 as the RelWithDebInfo libraries are built
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -o "$W/record_bench" \
    "$ROOT/loadtest/record_bench.c" \
    -I"$ROOT/responder" -I"$ROOT/tests/unit" -I"$BUILD/feeds/proto" \
    "$BUILD/responder/libocspcore.a" "$BUILD/feeds/librevocaproto.a" \
    $(pkg-config --libs libprotobuf-c hiredis libconfig libcrypto)
timeout 120 "$W/record_bench" "$CALLS"
