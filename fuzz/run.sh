#!/bin/sh
# Runs every fuzz target for a bounded time and reports, per target, how
# many inputs were executed and how many crashes were found. Exits non-zero
# if any target crashed; the crashing inputs are left in
# fuzz/artifacts/<target>/ (reproduce one with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`).
#
# Usage: fuzz/run.sh SECONDS TARGET...
set -u

seconds=$1
shift
cd "$(dirname "$0")/.." || exit 2
log_dir=fuzz/target/logs
mkdir -p "$log_dir"

# libFuzzer needs -Zsanitizer and friends, which only a nightly compiler
# accepts. RUSTC_BOOTSTRAP=1 lets the stable compiler take them.
export RUSTC_BOOTSTRAP=1
flags="--release --debug-assertions"

if ! cargo fuzz build $flags; then
    echo "fuzz: build failed" >&2
    exit 2
fi

status=0
summary=""
for target in "$@"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    before=$(ls "fuzz/artifacts/$target" | wc -l)
    dict=""
    case $target in
        pop3_command | pop3_session) dict="-dict=fuzz/pop3.dict" ;;
    esac
    # The session target keeps its scratch Maildir under TMPDIR.
    scratch=$(mktemp -d)
    echo "fuzz: $target for ${seconds}s"
    TMPDIR=$scratch cargo fuzz run $flags "$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 $dict \
        >"$log_dir/$target.log" 2>&1
    code=$?
    rm -rf "$scratch"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_dir/$target.log" | tail -1)
    if [ -z "$runs" ]; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log_dir/$target.log" | tail -1)
    fi
    after=$(ls "fuzz/artifacts/$target" | wc -l)
    crashes=$((after - before))
    if [ "$code" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="?"  # failed without writing an input: see the log
    fi
    if [ "$code" -ne 0 ]; then
        status=1
        grep -m1 -A3 -E "panicked|ERROR: " "$log_dir/$target.log" | sed 's/^/    /'
    fi
    summary="$summary$(printf '%-16s %12s executions  %s crashes' "$target" "${runs:-?}" "$crashes")
"
done

echo
echo "fuzz summary (${seconds}s per target, logs in $log_dir):"
printf '%s' "$summary"
exit $status
