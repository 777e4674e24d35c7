#!/usr/bin/env bash
# skipped.sh: after a ctest run, list each skipped test with the reason it
# gave, so that the summary says more than "(Skipped)".
#
# Purpose: ctest's own summary names a skipped test and no more; its reason,
# the GTEST_SKIP() message or a script's "SKIP: ..." line (exit 77), is in
# the test's output, which ctest prints only for failures. This reads the
# JUnit report of the run (ctest --output-junit FILE) and prints, for every
# test that did not run:
#
#   Why tests were skipped:
#     Stage2Connect.TriesEveryAddressInOrder: localhost has a single address family here
#
# The reason is the GTEST_SKIP() message (the lines after "FILE:LINE: Skipped"),
# else a "SKIP: " line, else the last line the test printed, else ctest's
# own word. Nothing is printed when nothing was skipped. Always exits 0: it
# only reports, the run's status is ctest's.
#
# Usage: tests/skipped.sh JUNIT_FILE       (make test runs it after ctest)
#
# See also: Makefile (test, sanitize, test-stageN); ctest(1) --output-junit.
set -uo pipefail

report="${1:?usage: skipped.sh JUNIT_FILE}"
[[ -r $report ]] || exit 0

awk '
  function unescape(text) {
    gsub(/&lt;/, "<", text); gsub(/&gt;/, ">", text); gsub(/&quot;/, "\"", text)
    gsub(/&apos;/, "\047", text); gsub(/&amp;/, "\\&", text)
    return text
  }
  function attribute(line, key,    start, rest) {
    start = index(line, key "=\"")
    if (start == 0) return ""
    rest = substr(line, start + length(key) + 2)
    return unescape(substr(rest, 1, index(rest, "\"") - 1))
  }
  # The reason among the test output: see the header.
  function reason(    i, why, in_skip, last) {
    why = ""; in_skip = 0; last = ""
    for (i = 1; i <= count; i++) {
      if (in_skip) {
        if (lines[i] ~ /^\[  SKIPPED \]/) return why
        if (lines[i] != "") why = why (why == "" ? "" : " ") lines[i]
      } else if (lines[i] ~ /: Skipped$/) {
        in_skip = 1
      } else if (lines[i] ~ /^SKIP: /) {
        return substr(lines[i], 7)
      }
      if (lines[i] != "") last = lines[i]
    }
    if (why != "") return why
    return last != "" ? last : ctest_word
  }
  /<testcase / {
    skipped = $0 ~ /status="notrun"/
    name = attribute($0, "name"); ctest_word = ""; marked = 0; count = 0; in_out = 0
  }
  skipped && /<skipped / { ctest_word = attribute($0, "message"); marked = 1 }
  skipped && /<system-out>/ { in_out = 1; sub(/.*<system-out>/, "") }
  skipped && in_out {
    done = sub(/<\/system-out>.*/, "")
    if (!(done && $0 == "")) lines[++count] = unescape($0)
    if (done) in_out = 0
  }
  # A test that could not start is "notrun" too, but a failure: no <skipped>.
  skipped && /<\/testcase>/ {
    if (marked && !listed++) print "\nWhy tests were skipped:"
    if (marked) print "  " name ": " reason()
    skipped = 0
  }
' "$report"
exit 0
