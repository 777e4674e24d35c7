#!/usr/bin/env bash
# run.sh: build the fuzz targets of what users type and what servers send,
# and run each a while.
#
# Purpose: libFuzzer mutates each target's seed inputs in fuzz/corpus-NAME
# (on a copy: the seeds stay as committed) for a bounded time, under
# AddressSanitizer and UBSan, and the target checks its code's promises on
# each input. The targets:
#   http_response  stage 4's response parser      http_response_fuzz.cpp
#   url            stage 4's URL parser           url_fuzz.cpp
#   crlf           -C's CR insertion (add_cr)     crlf_fuzz.cpp
#   visible        stage 5's control characters   visible_fuzz.cpp
#   args_stageN    stage N's command line, N=1-6  args_fuzz.cpp (corpus-args)
# Exits non-zero if any target found a crash, a timeout, a sanitizer report
# or a broken promise; the input that caused it is saved in BUILD_DIR as
# TARGET-crash-*, TARGET-timeout-*, ...
#
# Usage: fuzz/run.sh [BUILD_DIR] [SECONDS] [TARGET...]
#          defaults: build-fuzz, 60 s, every target (one after the other)
#   CI (.ci/run): 60 s for http_response, 20 s for each of the others
#   reproduce a crash: BUILD_DIR/url BUILD_DIR/url-crash-...
#
# See also: https://llvm.org/docs/LibFuzzer.html, the *_fuzz.cpp files here.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
build=${1:-build-fuzz}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
  targets=(http_response url crlf visible args_stage1 args_stage2 args_stage3 args_stage4 args_stage5 args_stage6)
case $seconds in
  '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac

mkdir -p "$build"
build=$(cd "$build" && pwd)

# The sources of TARGET, with the flags they need, into the array `sources`.
sources_of() {
  local stage4=$root/stage4-http
  case $1 in
    http_response)
      sources=(-I "$stage4" "$fuzz_dir/http_response_fuzz.cpp" "$stage4/http_response.cpp") ;;
    url)
      sources=(-I "$stage4" "$fuzz_dir/url_fuzz.cpp" "$stage4/http_client.cpp"
               "$stage4/http_response.cpp") ;;
    crlf)
      sources=(-I "$stage4" "$fuzz_dir/crlf_fuzz.cpp") ;;
    visible)
      sources=(-I "$root/stage5-chat" "$fuzz_dir/visible_fuzz.cpp" "$root/stage5-chat/visible.cpp") ;;
    args_stage[1-6])
      # The stage's main.cpp is #included by args_fuzz.cpp; its other files
      # (duplex.cpp, ...) are compiled beside it.
      local n=${1#args_stage} dir
      dir=$(echo "$root"/stage"$n"-*)
      sources=(-I "$dir" -DSTAGE="$n" -DSTAGE_MAIN="\"$dir/main.cpp\"" "$fuzz_dir/args_fuzz.cpp")
      for file in "$dir"/*.cpp; do
        [ "$file" = "$dir/main.cpp" ] || sources+=("$file")
      done ;;
    *) echo "run.sh: unknown target '$1'" >&2; exit 2 ;;
  esac
}

# -fno-sanitize-recover: a UBSan report stops the run like an ASan one.
build_target() {
  local sources
  sources_of "$1"
  # shellcheck disable=SC2054  # the commas belong to -fsanitize=, not to the array
  local compile=(clang++ -std=c++17 -g -O1 -Wall -Wextra -Werror
                 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
                 -I "$root/common" "${sources[@]}" -o "$build/$1")
  echo "${compile[*]}"
  "${compile[@]}"
}

# Runs TARGET for SECONDS; prints one line saying how it went.
fuzz_target() {
  local target=$1 name=${1%_stage[1-6]}
  local corpus=$build/corpus-$target log=$build/$target.log dict=()
  [ -f "$fuzz_dir/$name.dict" ] && dict=(-dict="$fuzz_dir/$name.dict")
  # libFuzzer adds the inputs it finds to its first corpus folder: a copy.
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp "$fuzz_dir/corpus-$name"/* "$corpus"/

  local status=0
  "$build/$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 "${dict[@]}" \
    -artifact_prefix="$build/$target-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?

  # libFuzzer exits non-zero on its own findings; a sanitizer report in the
  # log is a failure even if a bug let the process exit 0.
  if grep -qE '^(==[0-9]+==ERROR|SUMMARY: |.*runtime error: |broken promise: |unexpected exception: )' "$log"; then
    [ "$status" -ne 0 ] || status=1
  fi

  local execs done_line cov ft corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")
  if [ "$status" -eq 0 ]; then
    echo "fuzz $target: OK, ${execs:-?} runs in $seconds s, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?} inputs, no crash"
  else
    grep -E 'ERROR|runtime error|broken promise|unexpected exception|SUMMARY|Test unit written' "$log" | head -n 5 >&2 || true
    echo "fuzz $target: FAILED (exit $status) after ${execs:-?} runs, see $log and $build/$target-crash-* / timeout-* / oom-*" >&2
  fi
  return "$status"
}

for target in "${targets[@]}"; do
  build_target "$target"
done
failed=0
for target in "${targets[@]}"; do
  echo "fuzzing $target for $seconds s, log in $build/$target.log"
  fuzz_target "$target" || failed=1
done
exit "$failed"
