#!/usr/bin/env bash
# Runs libFuzzer targets of a fuzzing build (tests/fuzz/CMakeLists.txt).
#
#   tests/fuzz/run.sh TARGETS_FILE SECONDS [NAME...]
#
# TARGETS_FILE is build-fuzz/tests/fuzz/targets.tsv (name, binary, seed
# corpus, dictionary); each target (or each NAME) runs for SECONDS from its
# checked-in seeds, which are only read: new inputs go to a fresh working
# corpus beside TARGETS_FILE (work/NAME), crashes to crashes/.  Prints one
# line per target with libFuzzer's final figures (executions, cov: edges
# covered, ft: features, corpus size) and exits 1 if any target crashed,
# leaked, hit a sanitizer or timed out.  Called by ctest (fuzz.NAME) and
# by `deploy/dev fuzz`.
set -uo pipefail

(($# >= 2)) || { echo "usage: $0 TARGETS_FILE SECONDS [NAME...]" >&2; exit 2; }
targets=$1 seconds=$2
shift 2
[[ -s $targets ]] || { echo "fuzz: no targets in $targets (configure a fuzzing build)" >&2; exit 2; }
root=$(dirname "$targets")
mkdir -p "$root/crashes" "$root/logs"

# leaks are failures too; a slow input (-timeout) is reported, not waited on
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp}

rc=0 ran=0
while IFS=$'\t' read -r name bin corpus dict; do
    [[ -n $name ]] || continue
    if (($#)); then
        want=0
        for n in "$@"; do [[ $n == "$name" ]] && want=1; done
        ((want)) || continue
    fi
    ran=$((ran + 1))
    work=$root/work/$name log=$root/logs/$name.log
    rm -rf "$work"
    mkdir -p "$work"
    args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10
          -rss_limit_mb=2048 -artifact_prefix="$root/crashes/$name-")
    [[ -n $dict ]] && args+=(-dict="$dict")
    "$bin" "${args[@]}" "$work" "$corpus" >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    printf 'fuzz: %-14s %ss execs=%s (%s/s) cov=%s ft=%s corpus=%s' \
        "$name" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    if ((status != 0)) || grep -qE '^==[0-9]+==ERROR|runtime error:|^SUMMARY: ' "$log"; then
        printf ' FAILED (exit %d)\n' "$status"
        grep -E '^==[0-9]+==ERROR|runtime error:|^SUMMARY:|Test unit written to' "$log" | head -5
        echo "fuzz: log $log; add the input to tests/fuzz/corpus/$name/ with the fix"
        rc=1
    else
        printf '\n'
    fi
done <"$targets"
((ran)) || { echo "fuzz: no target named $*" >&2; exit 2; }
exit $rc
