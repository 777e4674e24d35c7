#!/usr/bin/env bash
# mutants.sh: mutation testing of the stages. Each mutant is one small bug,
# a one-line edit of a stage's code; the stage's tests must catch it (fail).
#
# Purpose: a test that cannot fail guards nothing. This script puts each bug
# listed below into a scratch copy of the repository, one at a time, builds,
# runs the stage's tests (ctest -L stageN, the lab left out) and prints
# "caught" with the first test that failed, or "SURVIVED", then a score. A
# mutant whose line is no longer in the code ("pattern not found"), or
# whose code does not build, is an ERROR, never a pass. The real tree is
# never touched: the copy is made from the working tree (what git tracks,
# plus new files not ignored) into a temporary folder, removed at the end.
# One build folder serves every mutant: each rebuild recompiles one file.
# Not part of `make test`: it takes some minutes (docs/mutants.md).
#
# Usage: tools/mutants.sh [-l] [-c] [-a] [NAME...]
#   NAME...  only these mutants (default: all)
#   -l       list the mutants and what each breaks, then exit
#   -c       check that each mutant's text is still in the code, then exit
#   -a       run all of the stage's tests for each mutant and name every test
#            that catches it (default: stop at the first failure)
#   JOBS=N   parallel builds and tests (default 2)
# Exit status: 0 when every mutant was caught, 1 when one survived, 2 on an
# error (a pattern not found, a build that failed, tests failing without
# any mutant).
#
# A mutant: mutant NAME LABEL FILE 'TEXT' 'REPLACEMENT' 'what it breaks'.
# TEXT is plain text (not a pattern) that must occur on exactly one line of
# FILE; its first occurrence there becomes REPLACEMENT. Pick text unlikely
# to change with unrelated edits: the call or constant the lesson is about.
#
# See also: docs/mutants.md; tests/CMakeLists.txt (labels).

set -u

names=() labels=() files=() texts=() replacements=() breaks=()
mutant() {
  names+=("$1") labels+=("$2") files+=("$3") texts+=("$4") replacements+=("$5") breaks+=("$6")
}

# ------------------------------------------------------------------ the mutants

mutant stage1-no-reuseaddr stage1 stage1-listen/main.cpp \
  'setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on)' '(on = 0)' \
  'SO_REUSEADDR never set: starting again right after Ctrl-C fails (Address already in use)'
mutant stage1-v6only stage1 stage1-listen/main.cpp \
  'int v6only = options.family == AF_INET6;' 'int v6only = 1;' \
  'the default listener is IPv6 only: IPv4 clients are refused'
mutant stage1-first-read-only stage1 stage1-listen/main.cpp \
  'if (check(got, read_attempt) == 0) return;' 'if (check(got, read_attempt) == 0 || count > 0) return;' \
  'only the first read() is printed: the rest of what the client sends is lost'
mutant stage2-first-address-only stage2 stage2-connect/main.cpp \
  'address != nullptr; address = address->ai_next)' 'address != nullptr; address = nullptr)' \
  'a break after the first failed connect: the other addresses getaddrinfo returned are never tried'
mutant stage2-sigpipe stage2 stage2-connect/main.cpp \
  'std::signal(SIGPIPE, SIG_IGN);' 'std::signal(SIGPIPE, SIG_DFL);' \
  'SIGPIPE not ignored: a peer gone while sending kills the program without a message'
mutant stage3-first-address-only stage3 stage3-duplex/main.cpp \
  'address != nullptr; address = address->ai_next)' 'address != nullptr; address = nullptr)' \
  'a break after the first failed connect: the other addresses getaddrinfo returned are never tried'
mutant stage3-no-half-close stage3 stage3-duplex/duplex.cpp \
  'check(shutdown(socket, SHUT_WR), "shutdown");' '(void)socket;' \
  'no shutdown(SHUT_WR) at the end of stdin: the peer never reads end of stream'
mutant stage3-terminal-waits stage3 stage3-duplex/duplex.cpp \
  'return up.done() || (options.input_is_terminal && !up.has_data());' \
  '(void)options; return up.done();' \
  'with a terminal as stdin, the peer ending the conversation no longer ends the program'
mutant stage4-first-address-only stage4 stage4-http/main.cpp \
  'address != nullptr; address = address->ai_next)' 'address != nullptr; address = nullptr)' \
  'a break after the first failed connect: the other addresses getaddrinfo returned are never tried'
mutant stage4-no-crlf stage4 stage4-http/duplex.cpp \
  "if (data[i] == '\n' && (i > 0 ? data[i - 1] : previous) != '\r') ++added;" 'if (false) ++added;' \
  '-C sends LF alone: a request typed by hand is not valid HTTP (400 Bad Request)'
mutant stage4-content-length stage4 stage4-http/http_response.cpp \
  'content_length_ = remaining_ = *length;' 'content_length_ = remaining_ = *length + 1;' \
  'waits for one byte past Content-Length: a complete response is taken as cut short'
mutant stage5-no-reuseaddr stage5 stage5-chat/main.cpp \
  'setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on)' '(on = 0)' \
  'SO_REUSEADDR never set: the room cannot open again right after Ctrl-C'
mutant stage5-no-slow-reader-drop stage5 stage5-chat/chat.cpp \
  '      if (client.out.data.size() + text.size() > options_.max_queued) {' '      if (false) {' \
  'a reader that stops reading is never dropped: its queue grows without bound'
mutant stage5-cr-kept stage5 stage5-chat/chat.cpp \
  "if (lf != std::string_view::npos && !line.empty() && line.back() == '\r') {" 'if (false) {' \
  'the CR of a CRLF line end (nc -C, telnet) is relayed to everyone'
mutant stage5-own-line-back stage5 stage5-chat/chat.cpp \
  'if (&client != except) queue(client, text);' 'if (&client != except || true) queue(client, text);' \
  'the sender gets its own line back'
mutant stage6-every-join-named stage6 stage6-class/chat.cpp \
  'kNamedNews = 3;' 'kNamedNews = 1000;' \
  'joins and leaves named one by one: a storm of N joins costs N x N lines'
mutant stage6-flood-never-dropped stage6 stage6-class/chat.cpp \
  'return full && now - full_since >= limit;' 'return false;' \
  'a backlog kept full is never a flood: yes | nc is relayed at the rate for hours'
mutant stage5-c1-raw stage5 stage5-chat/visible.cpp \
  'size = 2, low = 0xA0;' 'size = 2;' \
  'C1 characters in UTF-8 (U+009B, a CSI) reach the other terminals raw'
mutant stage5-del-raw stage5 stage5-chat/visible.cpp \
  'return (byte >= 0x20 && byte < 0x7F)' 'return (byte >= 0x20 && byte <= 0x7F)' \
  'DEL reaches the other terminals raw'
mutant stage5-piece-overflows stage5 stage5-chat/visible.cpp \
  'if (shown.size() > room && at > 0) break;' 'if (false) break;' \
  'a form that does not fit at the end of a piece goes in it anyway: pieces past 4 KiB'

# ------------------------------------------------------------------ the run

usage() {
  sed -n '/^# Usage:/,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# How many lines of mutant $1's file hold its text: it must be 1.
lines_with_text() {
  grep -cF -- "${texts[$1]}" "$2/${files[$1]}" 2>/dev/null || true
}

every_test=false
while getopts "lca" option; do
  case $option in
    l)
      for i in "${!names[@]}"; do
        printf '%-28s %-6s %s\n' "${names[i]}" "${labels[i]}" "${breaks[i]}"
      done
      exit 0
      ;;
    c)
      bad=0
      for i in "${!names[@]}"; do
        count=$(lines_with_text "$i" "$(cd "$(dirname "$0")/.." && pwd)")
        if [ "${count:-0}" -ne 1 ]; then
          echo "ERROR ${names[i]}: pattern not found once in ${files[i]} (${count:-0} lines)"
          bad=$((bad + 1))
        fi
      done
      echo "$((${#names[@]} - bad)) of ${#names[@]} mutants apply"
      [ "$bad" -eq 0 ] && exit 0 || exit 2
      ;;
    a) every_test=true ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))

chosen=()
for want in "$@"; do
  found=false
  for i in "${!names[@]}"; do
    if [ "${names[i]}" = "$want" ]; then chosen+=("$i") found=true; fi
  done
  $found || { echo "mutants.sh: no mutant named $want (see -l)" >&2; exit 2; }
done
[ ${#chosen[@]} -gt 0 ] || chosen=("${!names[@]}")

jobs=${JOBS:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mutants.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
src=$scratch/src build=$scratch/build
mkdir -p "$src"

# The working tree as it is, uncommitted edits included, build folders not.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -C "$src" -xf - || { echo "mutants.sh: cannot copy $repo" >&2; exit 2; }

build() {
  cmake --build "$build" -j "$jobs" >"$scratch/build.log" 2>&1
}

# Runs the tests of label $1; prints the failed tests' names, one a line.
# A test counts as failed when it fails twice: a test that failed once on a
# busy machine must not make a mutant look caught (nor the reference broken).
failing_tests() {
  local stop=--stop-on-failure
  $every_test && stop=
  (cd "$build" && ctest -L "^$1\$" -LE '^lab$' -j "$jobs" --repeat until-pass:2 $stop \
    >"$scratch/ctest.log" 2>&1)
  sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \([^ ]*\) .*\*\*\*\(Failed\|Timeout\|Exception\).*/\1/p' \
    "$scratch/ctest.log"
}

echo "building the reference in $build"
if ! cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$scratch/build.log" 2>&1 ||
  ! build; then
  tail -20 "$scratch/build.log"
  echo "mutants.sh: the reference does not build" >&2
  exit 2
fi

# Without a mutant every test must pass, or "caught" would mean nothing.
needed=$(for i in "${chosen[@]}"; do echo "${labels[i]}"; done | sort -u)
for label in $needed; do
  failed=$(failing_tests "$label")
  if [ -n "$failed" ] || ! grep -q "100% tests passed" "$scratch/ctest.log"; then
    echo "mutants.sh: the $label tests fail without any mutant:" >&2
    echo "${failed:-$(tail -5 "$scratch/ctest.log")}" | sed 's/^/  /' >&2
    exit 2
  fi
  echo "reference: $label tests pass"
done

caught=0 survived=0 errors=0
for i in "${chosen[@]}"; do
  name=${names[i]} file=$src/${files[i]}
  printf '%-28s ' "$name"
  matches=$(lines_with_text "$i" "$src")
  if [ "${matches:-0}" -ne 1 ]; then
    echo "ERROR: pattern not found once in ${files[i]} (${matches:-0} lines): ${texts[i]}"
    errors=$((errors + 1))
    continue
  fi
  cp "$file" "$scratch/original"
  TEXT=${texts[i]} WITH=${replacements[i]} awk '
    !done && (at = index($0, ENVIRON["TEXT"])) {
      $0 = substr($0, 1, at - 1) ENVIRON["WITH"] substr($0, at + length(ENVIRON["TEXT"]))
      done = 1
    }
    { print }' "$scratch/original" >"$file"
  if ! build; then
    echo "ERROR: the mutant does not build (${files[i]}):"
    grep -m 3 'error' "$scratch/build.log" | sed 's/^/    /'
    errors=$((errors + 1))
  else
    failed=$(failing_tests "${labels[i]}")
    if [ -z "$failed" ] && ! grep -q "100% tests passed" "$scratch/ctest.log"; then
      echo "ERROR: the tests did not run: $(tail -1 "$scratch/ctest.log")"
      errors=$((errors + 1))
    elif [ -n "$failed" ]; then
      caught=$((caught + 1))
      echo "caught by $(echo "$failed" | head -1)"
      $every_test && echo "$failed" | tail -n +2 | sed 's/^/                             and /'
    else
      survived=$((survived + 1))
      echo "SURVIVED: ${breaks[i]}"
    fi
  fi
  cp "$scratch/original" "$file"  # a fresh mtime: the next build recompiles it
done

total=${#chosen[@]}
echo "score: $caught of $total mutants caught, $survived survived, $errors errors"
[ "$errors" -eq 0 ] || exit 2
[ "$survived" -eq 0 ] || exit 1
exit 0
