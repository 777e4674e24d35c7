#!/usr/bin/env bash
# run.sh: build the fuzz target of stage4-http's response parser, run it a while.
#
# Purpose: libFuzzer mutates the seed responses in fuzz/corpus (on a copy:
# the seeds stay as committed) for a bounded time, under AddressSanitizer and
# UBSan, and http_response_fuzz.cpp checks the parser's promises on each input.
# Exits non-zero on a crash, a timeout, a sanitizer report or a broken promise;
# the input that caused it is saved in BUILD_DIR as crash-*, timeout-*, ...
#
# Usage: fuzz/run.sh [BUILD_DIR] [SECONDS]     (defaults: build-fuzz 60)
#   reproduce a crash: BUILD_DIR/http_response_fuzz BUILD_DIR/crash-...
#
# See also: https://llvm.org/docs/LibFuzzer.html, fuzz/http_response_fuzz.cpp.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
build=${1:-build-fuzz}
seconds=${2:-60}
case $seconds in
  '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac

mkdir -p "$build"
build=$(cd "$build" && pwd)
binary=$build/http_response_fuzz
corpus=$build/corpus
log=$build/fuzz.log

# -fno-sanitize-recover: a UBSan report stops the run like an ASan one.
# shellcheck disable=SC2054  # the commas belong to -fsanitize=, not to the array
compile=(clang++ -std=c++17 -g -O1 -Wall -Wextra -Werror
         -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
         -I "$root/stage4-http" "$root/stage4-http/http_response.cpp"
         "$fuzz_dir/http_response_fuzz.cpp" -o "$binary")
echo "${compile[*]}"
"${compile[@]}"

# libFuzzer adds the inputs it finds to its first corpus folder: a copy.
rm -rf "$corpus"
mkdir -p "$corpus"
cp "$fuzz_dir"/corpus/* "$corpus"/

echo "fuzzing for $seconds s, log in $log"
status=0
"$binary" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
  -dict="$fuzz_dir/http_response.dict" -artifact_prefix="$build/" -print_final_stats=1 \
  "$corpus" >"$log" 2>&1 || status=$?

# libFuzzer exits non-zero on its own findings; a sanitizer report in the log
# is a failure even if a bug let the process exit 0.
if grep -qE '^(==[0-9]+==ERROR|SUMMARY: |.*runtime error: |broken promise: )' "$log"; then
  [ "$status" -ne 0 ] || status=1
fi

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")
if [ "$status" -eq 0 ]; then
  echo "fuzz: OK, ${execs:-?} runs in $seconds s, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?} inputs, no crash"
else
  grep -E 'ERROR|runtime error|broken promise|SUMMARY|Test unit written' "$log" | head -n 5 >&2 || true
  echo "fuzz: FAILED (exit $status) after ${execs:-?} runs, see $log and $build/crash-* / timeout-* / oom-*" >&2
fi
exit "$status"
