#!/usr/bin/env bash
# narrowing_test.sh: a stage builds warning-free for macOS too, as far as a
# Linux machine can tell: clang's -Wshorten-64-to-32 with macOS's poll.h.
#
# Purpose: Linux and macOS are both 64-bit (LP64), but a few types differ.
# nfds_t, poll()'s count of slots, is 64 bits on Linux and 32 on macOS, so
# `poll(slots.data(), slots.size(), ...)` builds clean here and warns there
# (an error under -Werror). support/nfds32/poll.h, found ahead of the
# system's header, gives the compiler macOS's declaration; -fsyntax-only
# compiles nothing and links nothing.
#
# Usage: tests/narrowing_test.sh SOURCE_DIR STAGE   (e.g. . stage5-chat)
#   needs clang++ (GCC has no -Wshorten-64-to-32): skipped (exit 77) and
#   said so without it, a failure under CI=true.
#
# See also: make macos, which cross-builds every stage with zig.

set -uo pipefail

src=$(cd "${1:?usage: narrowing_test.sh SOURCE_DIR STAGE}" && pwd)
stage=${2:?usage: narrowing_test.sh SOURCE_DIR STAGE}
clang=${CLANGXX:-clang++}

if ! command -v "$clang" >/dev/null; then
  echo "narrowing_test: $clang not found: install clang (apt install clang)" >&2
  [[ ${CI:-} == true ]] && exit 1
  exit 77
fi

status=0
for file in "$src/$stage"/*.cpp; do
  "$clang" -std=c++17 -fsyntax-only -Werror -Wshorten-64-to-32 \
    -I "$src/tests/support/nfds32" -I "$src/common" "$file" || status=1
done
[[ $status == 0 ]] && echo "narrowing_test: $stage: no 64-to-32 narrowing with macOS's nfds_t"
exit $status
