#!/usr/bin/env bash
# skipped_test.sh: tests/skipped.sh against a real ctest run, so that a
# skipped test's reason reaches the summary of make test.
#
# A throwaway CMake project, in a temporary folder removed on exit, has four
# tests: one passes, one skips as GoogleTest does (GTEST_SKIP()'s "Skipped"
# line, a message with XML's special characters, ctest's
# SKIP_REGULAR_EXPRESSION), one as lab_test.sh does ("SKIP: ...", exit 77,
# SKIP_RETURN_CODE) and one fails. ctest writes its JUnit report, and
# skipped.sh must list the two skipped tests, each with its own reason,
# and nothing else.
#
# Usage: tests/skipped_test.sh SOURCE_DIR     (ctest runs it: ctest -R skipped)
set -euo pipefail

source_dir="${1:?usage: skipped_test.sh SOURCE_DIR}"
if ! ctest --help 2>/dev/null | grep -e --output-junit >/dev/null; then
  why="this ctest has no --output-junit (CMake 3.21 or later has)"
  [[ ${CI:-} == true ]] && { echo "FAIL: $why (required: CI=true)"; exit 1; }
  echo "SKIP: $why"
  exit 77
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/skipped_test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cat >"$work/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(skipped_test NONE)
enable_testing()
add_test(NAME passes COMMAND sh -c "echo fine")
add_test(NAME Suite.GtestSkip COMMAND sh -c [=[
  echo '[ RUN      ] Suite.GtestSkip'
  echo 'suite_test.cpp:12: Skipped'
  echo 'nc not found: install netcat-openbsd <apt> & co'
  echo '[  SKIPPED ] Suite.GtestSkip (0 ms)'
]=])
set_tests_properties(Suite.GtestSkip PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
add_test(NAME script_skip COMMAND sh -c "echo checking; echo 'SKIP: ip not found: install iproute2'; exit 77")
set_tests_properties(script_skip PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME fails COMMAND sh -c "echo broken; exit 1")
EOF

cmake -S "$work" -B "$work/build" >"$work/cmake.log" 2>&1 || {
  echo "FAIL: cmake could not configure the sample project:"
  cat "$work/cmake.log"
  exit 1
}
# The sample's failing test makes ctest exit non-zero, as it should.
(cd "$work/build" && ctest --output-junit report.xml >"$work/ctest.log" 2>&1) || true

expected=$'\nWhy tests were skipped:
  Suite.GtestSkip: nc not found: install netcat-openbsd <apt> & co
  script_skip: ip not found: install iproute2'
got="$(bash "$source_dir/tests/skipped.sh" "$work/build/report.xml")"
if [[ $got != "$expected" ]]; then
  echo "FAIL: tests/skipped.sh on ctest's report of the sample run"
  echo "--- expected:"
  printf '%s\n' "$expected"
  echo "--- got:"
  printf '%s\n' "$got"
  echo "--- ctest said:"
  cat "$work/ctest.log"
  exit 1
fi

# Nothing skipped, nothing said.
got="$(bash "$source_dir/tests/skipped.sh" /dev/null)"
if [[ -n $got ]]; then
  echo "FAIL: tests/skipped.sh printed something for a run with no skipped test: $got"
  exit 1
fi
echo "skipped_test: the two skipped tests listed with their reasons"
