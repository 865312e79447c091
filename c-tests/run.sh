#!/bin/sh
# Runs the ferrymap C tests in one mode and prints one line per program,
# then "N passed, M failed"; exits non-zero if anything failed.
#
# Besides the programs, two static checks: the library does not call its own
# exports through interposable symbols, and test_api.c calls every function
# the header declares.
#
#   ./run.sh plain      build/plain programs as they are
#   ./run.sh asan       build/asan programs (ASan + UBSan, leak detection on)
#   ./run.sh valgrind   build/plain programs under valgrind memcheck
#
# Environment: LIBDIR (directory of libferrymap.so, default ../target/release),
# FM_TEST_SCALE (iteration scale; valgrind mode defaults it to 0.05),
# VERBOSE=1 (print every program's full output, not only failures').
# Each program's output is kept in build/<mode>/logs/<name>.log.
set -u

mode=${1:-plain}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 2
LIBDIR=${LIBDIR:-../target/release}
LIBDIR=$(cd "$LIBDIR" && pwd) || { echo "LIBDIR does not exist" >&2; exit 2; }
lib="$LIBDIR/libferrymap.so"

# Tests that only make sense in one mode read it (test_oom, test_paused_callback).
export FM_TEST_MODE="$mode"
case $mode in
plain)
    bin=build/plain
    limit=300
    ;;
asan)
    bin=build/asan
    limit=400
    # allocator_may_return_null: test_bad_input asks for absurd capacities on
    # purpose and expects FM_OUT_OF_MEMORY, not an ASan abort.
    ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
    # No leak suppressions: the library's process-lifetime allocations (handle
    # registry segments, epoch records, the hasher seed) stay reachable from
    # its statics, so LeakSanitizer does not report them; anything it does
    # report is a real leak.
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export ASAN_OPTIONS UBSAN_OPTIONS
    ;;
valgrind)
    bin=build/plain
    limit=900
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
    # valgrind.supp holds the one process-lifetime allocation memcheck calls
    # "possibly lost" (Rust std's handle for a thread it did not start); it
    # says why. Nothing else is suppressed.
    FM_TEST_SCALE=${FM_TEST_SCALE:-0.05}
    export FM_TEST_SCALE
    ;;
*)
    echo "usage: $0 plain|asan|valgrind" >&2
    exit 2
    ;;
esac

logs=$bin/logs
mkdir -p "$logs"
passed=0
failed=0

# run NAME [ARGS...]: runs one program, prints its PASS/FAIL line.
run() {
    name=$1
    shift
    prog=$bin/$name
    log=$logs/$name.log
    if [ ! -x "$prog" ]; then
        echo "FAIL $name (not built: $prog)"
        failed=$((failed + 1))
        return
    fi
    if [ "$mode" = valgrind ]; then
        # --fair-sched=yes: valgrind runs one thread at a time, and its
        # default hand-over lets a spinning thread starve the one it waits
        # for (a stress run once took 328 s instead of seconds).
        set -- valgrind -q --fair-sched=yes --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible \
            --suppressions="$here/valgrind.supp" "$prog" "$@"
    else
        set -- "$prog" "$@"
    fi
    start=$(date +%s.%N)
    timeout -k 10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    secs=$(echo "$start $(date +%s.%N)" | awk '{printf "%.2f", $2 - $1}')
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name (${secs}s)"
        passed=$((passed + 1))
        [ "${VERBOSE:-0}" = 1 ] && sed 's/^/    | /' "$log" >&2
    else
        why="exit $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${limit}s"
        [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && why="killed by signal $((rc - 128))"
        echo "FAIL $name ($why, ${secs}s; log: c-tests/$log)"
        failed=$((failed + 1))
        if [ "${VERBOSE:-0}" = 1 ]; then sed 's/^/    | /' "$log" >&2; else tail -n 25 "$log" | sed 's/^/    | /' >&2; fi
    fi
}

# The library must never reach its own exported functions through the
# dynamic symbol table: with another copy of libferrymap in the global scope
# such a call binds to that copy and its registry (see test_dlopen). Any
# dynamic relocation against an fm_* or Java_* symbol is such a call.
check_self_binding() {
    name=self_binding
    if ! command -v readelf >/dev/null; then
        echo "FAIL $name (readelf not found)"
        failed=$((failed + 1))
        return
    fi
    bad=$(readelf -rW "$lib" | awk 'NF >= 5 && $5 ~ /^(fm_|Java_)/ {print $5}' | sort -u | tr '\n' ' ')
    if [ -z "$bad" ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name (the library calls its own exports through interposable symbols: $bad)"
        failed=$((failed + 1))
    fi
}

# test_api.c calls every function ferrymap.h declares (so a new function
# without a test shows up here).
check_api_coverage() {
    name=api_coverage
    missing=""
    for f in $(grep -oE '\bfm_[a-z0-9_]+\(' ../bindings/c/ferrymap.h | tr -d '(' | sort -u); do
        grep -q "\b$f(" test_api.c || missing="$missing $f"
    done
    if [ -z "$missing" ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name (not called by test_api.c:$missing)"
        failed=$((failed + 1))
    fi
}

echo "ferrymap C tests, mode $mode, library $lib"
check_self_binding
check_api_coverage
run header_c99
run header_c11
run header_cxx11
run test_dlopen "$lib"
run test_api
run test_bad_input
run test_snapshot
run test_stress
run test_bridge
run test_oom
run test_paused_callback
run test_clear
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
