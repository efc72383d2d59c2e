#!/usr/bin/env bash
# Build the libFuzzer harnesses and run each for SECONDS (fuzz/README.md).
#
#   fuzz/run.sh [SECONDS]        default 20: the smoke run of `make test`
#
# For each harness: replay fuzz/regressions/<harness>/*, then fuzz for
# SECONDS on a corpus kept in the build folder (seeded from
# fuzz/corpus/<harness>, so runs never touch the repository), two harnesses
# at a time. One line per harness; exit status 1 when any crashed. The
# details (exec/s, corpus size) are in $BUILD/results.tsv, the libFuzzer
# output in $BUILD/<harness>.log, crashing inputs in $BUILD/artifacts/.
#
# Environment: FUZZ_BUILD (build folder, default fuzz/build), FUZZ_JOBS
# (harnesses run at once, default 2), FUZZ_CC (compiler, default clang),
# FUZZ_SRC (source folder, default src), FUZZ_ONLY (space-separated
# harness names to run, default all).
set -euo pipefail

SECS=${1:-20}
case $SECS in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$FUZZ_DIR")
SRC=${FUZZ_SRC:-$ROOT/src}
BUILD=${FUZZ_BUILD:-$FUZZ_DIR/build}
JOBS=${FUZZ_JOBS:-2}

# name | sources from src/ | max input length (enough to reach each parser's limits)
HARNESSES=(
    "fuzz_request|http_parse.c buf.c|40000"
    "fuzz_multipart|multipart.c buf.c|12000"
    "fuzz_conf|$(cd "$SRC" && ls *.c | grep -v '^main\.c$' | tr '\n' ' ')|8192"
    "fuzz_cgi_head|cgi_parse.c buf.c|20000"
    "fuzz_path|path.c buf.c|4096"
    "fuzz_conn|$(cd "$SRC" && ls *.c | grep -v '^main\.c$' | tr '\n' ' ')|70000"
    "fuzz_h2|$(cd "$SRC" && ls *.c | grep -v '^main\.c$' | tr '\n' ' ')|70000"
)

# BUF_MOVE_ON_RESERVE: a buffer that compacts or grows moves, so a pointer
# kept into it is a use-after-free ASan sees (src/buf.c).
CFLAGS=(-std=c17 -D_GNU_SOURCE -DBUF_MOVE_ON_RESERVE -DWEBSERV_CONF_DIR='"/nonexistent"' -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -Wall -Wextra -Werror -Wno-unused-parameter -I"$SRC" -I"$FUZZ_DIR")

mkdir -p "$BUILD"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# ---- a compiler with libFuzzer (installed with apt-get on Debian when root) ----

probe() {
    command -v "$1" >/dev/null 2>&1 || return 1
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' |
        "$1" -x c -fsanitize=fuzzer,address,undefined -o "$BUILD/.probe" - >/dev/null 2>&1
}

find_cc() {
    local c
    for c in ${FUZZ_CC:-} clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
        if probe "$c"; then echo "$c"; return 0; fi
    done
    return 1
}

if ! CC=$(find_cc); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "fuzz: installing clang (libFuzzer) with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq clang >&2
        if ! CC=$(find_cc); then  # the runtime is only recommended by clang on Debian 12
            ver=$(clang -dumpversion | cut -d. -f1)
            apt-get install -y -qq "libclang-rt-$ver-dev" >&2
            CC=$(find_cc) || { echo "fuzz: clang cannot build libFuzzer targets" >&2; exit 2; }
        fi
    else
        echo "fuzz: need clang with libFuzzer: apt-get install clang libclang-rt-14-dev (as root)" >&2
        exit 2
    fi
fi
rm -f "$BUILD/.probe"

# ---- build ----

build() {
    local name=$1 srcs=$2 files=() s
    for s in $srcs; do files+=("$SRC/$s"); done
    "$CC" "${CFLAGS[@]}" "$FUZZ_DIR/$name.c" "${files[@]}" -o "$BUILD/$name" -lssl -lcrypto -lnghttp2 -lpcre2-8 -lcrypt 2>"$BUILD/$name.build.log" ||
        { cat "$BUILD/$name.build.log" >&2; return 1; }
}

selected() { [ -z "${FUZZ_ONLY:-}" ] || [[ " $FUZZ_ONLY " == *" $1 "* ]]; }

pids=()
for h in "${HARNESSES[@]}"; do
    IFS='|' read -r name srcs _ <<<"$h"
    selected "$name" || continue
    build "$name" "$srcs" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { echo "fuzz: build failed" >&2; exit 2; }; done

# ---- run ----

# Replay the regressions, then fuzz; the verdict goes to $BUILD/$name.status.
run_one() {
    local name=$1 maxlen=$2 bin=$BUILD/$1 log=$BUILD/$1.log
    local corpus=$BUILD/corpus/$name artifacts=$BUILD/artifacts/$name/
    local dict=$FUZZ_DIR/${name#fuzz_}.dict opts=()
    mkdir -p "$corpus" "$artifacts"
    cp -n "$FUZZ_DIR/corpus/$name"/* "$corpus"/ 2>/dev/null || true
    [ -f "$dict" ] && opts+=(-dict="$dict")
    : >"$log"
    local regs=("$FUZZ_DIR/regressions/$name"/*)
    if [ -e "${regs[0]}" ] && ! "$bin" -runs=1 "${regs[@]}" >"$BUILD/$name.regressions.log" 2>&1; then
        echo "CRASH regression" >"$BUILD/$name.status"
        return
    fi
    if "$bin" "${opts[@]}" -max_total_time="$SECS" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1; then
        echo OK >"$BUILD/$name.status"
    else
        echo CRASH >"$BUILD/$name.status"
    fi
}

start=$(date +%s)
running=0
for h in "${HARNESSES[@]}"; do
    IFS='|' read -r name _ maxlen <<<"$h"
    selected "$name" || continue
    rm -f "$BUILD/$name.status"
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_one "$name" "$maxlen" &
    running=$((running + 1))
done
wait

# ---- report ----

failed=0
: >"$BUILD/results.tsv"
for h in "${HARNESSES[@]}"; do
    IFS='|' read -r name _ _ <<<"$h"
    selected "$name" || continue
    log=$BUILD/$name.log
    status=$(cat "$BUILD/$name.status" 2>/dev/null || echo "CRASH (no result)")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")  # inputs/size kept by libFuzzer
    echo "$name: ${execs:-0} execs, cov ${cov:-?}, ft ${ft:-?}, ${status%% *}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${execs:-0}" "${speed:-0}" "${cov:-}" "${ft:-}" "${corp:-}" \
        "$status" >>"$BUILD/results.tsv"
    if [ "$status" != OK ]; then
        failed=1
        if [ "$status" = "CRASH regression" ]; then
            echo "  a regression input still fails; see $BUILD/$name.regressions.log" >&2
            grep -E 'ERROR|invariant failed|runtime error|Running:' "$BUILD/$name.regressions.log" | tail -n 4 | sed 's/^/  /' >&2
        else
            grep -E 'ERROR|invariant failed|runtime error|Test unit written' "$log" | head -n 4 | sed 's/^/  /' >&2
            echo "  log: $log" >&2
        fi
    fi
done
echo "fuzz: $(($(date +%s) - start)) s (build folder $BUILD)" >&2
exit "$failed"
