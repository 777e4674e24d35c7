#!/usr/bin/env bash
# docs_test.sh: keep the lessons true to the programs.
#
# Purpose: a lesson that tells students to run a command and expect a
# message is wrong the day the message changes. This test runs those
# commands and compares. In docs/*.md, a checkable example is a ```console
# block right after a comment line such as
#
#   <!-- check: exit=1 port=3000 busy -->
#
# In the block, lines starting with "$ " are commands; every other line is
# expected output (stdout and stderr together, as a terminal shows them).
#   exit=N     the exit status of the last command (required)
#   port=P     P, wherever it appears in the block, is replaced by a free
#              loopback port the test picks (a port that just closed: connect
#              there and be refused); after a command ending with "&", the
#              test waits until that port is listening, or, if it already
#              was, until one more connection to it is established and
#              accepted (a client that stays, such as one more member of a
#              chat room, is then in before the next command runs)
#   busy       the port is held by a listener (bin/stage1-listen -l P) while
#              the block runs
#   needs=CMD  the block runs CMD (e.g. nc): skipped, and said so, where CMD
#              is not installed; under CI=true, a failure instead
# In the expected output, a line "..." stands for any number of lines, and
# "..." within a line for any text there (client ports, which vary):
# "* 127.0.0.1:... joined".
#
# The commands run from a copy of the repository made of symbolic links (so
# files they write land in a scratch folder), with bin/ the programs under
# test, stdin from /dev/null, and a time limit. They must stay safe: loopback
# only, nothing that resolves a real name or touches the network.
#
# Also checked, in the lessons: every `make TARGET` names a real target;
# every file path (stage1-listen/main.cpp, common/fd.hpp, demo/run.sh, links)
# exists; every `function()` named in inline code is called or defined in
# the stage or common sources; no code block other than console, mermaid or
# text (docs show no pasted code: make diff and the files do that).
#
# Usage: tests/docs_test.sh [SOURCE_DIR [BIN_DIR]]
#   defaults: the repository holding this script, and its bin/ (after make)
#   ctest runs it with CMake's bin folder: ctest -L docs
#
# See also: docs/README.md ("How to read the examples").

set -uo pipefail

src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
bin=$(cd "${2:-$src/bin}" 2>/dev/null && pwd) || {
  echo "docs_test: no programs in ${2:-$src/bin}: build them first (make)" >&2
  exit 1
}
for program in stage1-listen stage2-connect stage3-duplex stage4-http stage5-chat stage6-class; do
  [[ -x $bin/$program ]] || {
    echo "docs_test: $bin/$program is missing: build it first" >&2
    exit 1
  }
done

readonly LIMIT=${DOCS_TEST_LIMIT:-20}  # seconds for one block
lessons=("$src"/docs/stage*.md "$src/docs/architecture.md" "$src/docs/README.md")

work=$(mktemp -d "${TMPDIR:-/tmp}/docs_test.XXXXXX")
holder=""  # PID of the listener of a `busy` block
cleanup() {
  [[ -n $holder ]] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The repository, as symbolic links, with bin/ pointing at the programs.
root=$work/repo
mkdir -p "$root"
for entry in "$src"/* "$src"/.[!.]*; do
  [[ -e $entry ]] || continue
  case ${entry##*/} in bin | build* | .git) continue ;; esac
  ln -s "$entry" "$root/${entry##*/}"
done
ln -s "$bin" "$root/bin"

failures=0
checked=0
skipped=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- the port helpers ------------------------------------------------------

# listen_on PORT_SPEC LOG: starts bin/stage1-listen -v -l PORT_SPEC in the
# background (PID in `listener`) and sets `port` from its "listening on" line.
listen_on() {
  rm -f "$work/listener.log"  # not a previous listener's line, read too soon
  "$bin/stage1-listen" -v -l "$@" </dev/null >/dev/null 2>"$work/listener.log" &
  listener=$!
  local tries
  for ((tries = 100; tries > 0; tries--)); do
    # The line may be read half written (it comes in several writes): wait
    # for its port number.
    port=$(awk '/^listening on .* port [0-9]+$/ { print $NF; exit }' "$work/listener.log" 2>/dev/null)
    [[ -n $port ]] && return 0
    sleep 0.05
  done
  kill "$listener" 2>/dev/null
  return 1
}

# A free port: one the system just gave to a listener that is now stopped.
free_port() {
  listen_on 127.0.0.1 0 || return 1
  kill "$listener" && wait "$listener" 2>/dev/null
  return 0
}

# The prelude of every block's script: kill what the block left running.
# Around each command ending with "&": __before PORT, run before it, prints
# the number of connections to PORT if PORT is listening already (the
# command is then a client), nothing otherwise; __started PORT BEFORE, run
# after it, waits (5 s at most) until PORT is listening, or, given BEFORE,
# until one more connection to it is established and the listener's accept
# queue is empty again (the server has accepted it); if not, it says so and
# the block stops there.
read -r -d '' prelude <<'EOF'
trap 'kill $(jobs -p) 2>/dev/null' EXIT
# PORT STATE [QUEUES]: sockets of local port PORT in STATE (0A listening,
# 01 established) whose tx:rx queues match QUEUES (a listener's rx queue is
# its accept queue).
__sockets() {
  local hex
  printf -v hex '%04X' "$1"
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    grep -cE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ $2 ${3:-[0-9A-F]+:[0-9A-F]+} "
}
__before() {
  (($(__sockets "$1" 0A) > 0)) && __sockets "$1" 01
}
__started() {
  local tries
  [[ -r /proc/net/tcp ]] || { sleep 1; return 0; }  # no /proc: just wait
  for ((tries = 100; tries > 0; tries--)); do
    if [[ -z $2 ]]; then
      (($(__sockets "$1" 0A) > 0)) && return 0
    else
      (($(__sockets "$1" 01) > $2 && $(__sockets "$1" 0A '[0-9A-F]+:0+') > 0)) && return 0
    fi
    sleep 0.05
  done
  # Said, so that the block fails as this, not as an unexplained mismatch.
  if [[ -z $2 ]]; then
    echo "docs_test: port $1 never listening (5 s)"
  else
    echo "docs_test: port $1 never accepted connection $(($2 + 1)) (5 s)"
  fi
  return 1
}
EOF

# --- output matching -------------------------------------------------------

# line_matches PATTERN LINE: equal, each "..." in PATTERN standing for any
# text. Trailing spaces and CRs do not count: a terminal does not show them,
# and editors strip them from Markdown.
line_matches() {
  local pattern=$1 line=$2 blank=$' \t\r' part
  pattern=${pattern%"${pattern##*[!$blank]}"}
  line=${line%"${line##*[!$blank]}"}
  [[ $pattern == *...* ]] || { [[ $line == "$pattern" ]] && return; }
  part=${pattern%%...*}
  [[ $line == "$part"* ]] || return 1
  line=${line#"$part"}
  pattern=${pattern#*...}
  # Each middle part at its first place: that leaves the most for the rest.
  while [[ $pattern == *...* ]]; do
    part=${pattern%%...*}
    [[ $line == *"$part"* ]] || return 1
    line=${line#*"$part"}
    pattern=${pattern#*...}
  done
  [[ $line == *"$pattern" ]]
}

# matches_from I J: expected[I..] matches actual[J..], "..." matching any
# run of lines.
matches_from() {
  local i=$1 j=$2
  while ((i < ${#expected[@]})); do
    if [[ ${expected[i]} == "..." ]]; then
      local k
      for ((k = j; k <= ${#actual[@]}; k++)); do
        matches_from $((i + 1)) "$k" && return 0
      done
      return 1
    fi
    ((j < ${#actual[@]})) || return 1
    line_matches "${expected[i]}" "${actual[j]}" || return 1
    i=$((i + 1))
    j=$((j + 1))
  done
  ((j == ${#actual[@]}))
}

# --- one checked block -----------------------------------------------------

# run_block WHERE OPTIONS LINE...: runs one console block and compares.
run_block() {
  local where=$1 options=$2
  shift 2
  local want_exit="" port_token="" busy=0 option need
  local -a needs=()
  for option in $options; do
    case $option in
      exit=*) want_exit=${option#exit=} ;;
      port=*) port_token=${option#port=} ;;
      busy) busy=1 ;;
      needs=*) needs+=("${option#needs=}") ;;
      *) fail "$where: unknown check option \"$option\"" && return ;;
    esac
  done
  [[ $want_exit =~ ^[0-9]+$ ]] || { fail "$where: check needs exit=N" && return; }
  for need in ${needs[@]+"${needs[@]}"}; do
    command -v "$need" >/dev/null && continue
    if [[ ${CI:-} == true ]]; then
      fail "$where: needs $need, which is not installed"
    else
      echo "SKIP: $where: needs $need, which is not installed"
      skipped=$((skipped + 1))
    fi
    return
  done

  port=""
  if [[ -n $port_token ]]; then
    if ((busy)); then
      listen_on 0 || { fail "$where: could not hold a port" && return; }
      holder=$listener
    else
      free_port || { fail "$where: could not find a free port" && return; }
    fi
  fi

  local script=$prelude$'\n' line replace
  local -a commands=()
  expected=()
  # Twice: one pass cannot replace both of "3000 3000", which share a space.
  replace="s/(^|[^0-9])$port_token([^0-9]|\$)/\\1$port\\2/g"
  for line in "$@"; do
    [[ -n $port_token ]] && line=$(sed -E "$replace; $replace" <<<"$line")
    if [[ $line == '$ '* ]]; then
      commands+=("$line")
      if [[ -n $port && $line == *'&' ]]; then
        script+="__connections=\$(__before $port)"$'\n'
        script+=${line#'$ '}$'\n'
        script+="__started $port \"\$__connections\" || exit 1"$'\n'
      else
        script+=${line#'$ '}$'\n'
      fi
    else
      expected+=("$line")
    fi
  done

  local status=0
  (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u MAKEOVERRIDES \
    timeout -k 2 "$LIMIT" bash -c "$script" </dev/null >"$work/out" 2>&1) || status=$?
  if [[ -n $holder ]]; then
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    holder=""
  fi
  mapfile -t actual <"$work/out"
  checked=$((checked + 1))

  local problems=""
  [[ $status == "$want_exit" ]] || problems+="exit status $status, expected $want_exit; "
  matches_from 0 0 || problems+="output differs; "
  problems+=$(sed -n 's/^docs_test: \(.*\)$/\1; /p' "$work/out")
  if [[ -n $problems ]]; then
    fail "$where: ${problems%; }"
    echo "  ran (in a copy of the repository${port:+, port $port_token -> $port}):"
    printf '    %s\n' "${commands[@]}"
    echo "  expected:"
    printf '    | %s\n' "${expected[@]}"
    echo "  got:"
    sed 's/^/    | /' "$work/out"
  fi
}

# --- the lessons -------------------------------------------------------------

# check_examples FILE: every checked block of FILE.
check_examples() {
  local file=$1 name=${1#"$src"/} number=0 line options="" pending=0 in_block=0 start=0
  local -a block=()
  while IFS= read -r line || [[ -n $line ]]; do
    number=$((number + 1))
    if ((in_block)); then
      if [[ $line == '```' ]]; then
        in_block=0
        run_block "$name:$start" "$options" "${block[@]}"
      else
        block+=("$line")
      fi
    elif [[ $line =~ ^\<!--\ check:(.*)--\>$ ]]; then
      options=${BASH_REMATCH[1]}
      pending=1
    elif ((pending)); then
      pending=0
      if [[ $line == '```console' ]]; then
        in_block=1
        start=$number
        block=()
      else
        fail "$name:$number: a check comment must be followed by a \`\`\`console block"
      fi
    fi
  done <"$file"
  ((in_block)) && fail "$name:$start: the checked block never ends"
}

# check_code_blocks FILE: only console, mermaid and text blocks.
check_code_blocks() {
  local file=$1 name=${1#"$src"/} number=0 line inside=0
  while IFS= read -r line || [[ -n $line ]]; do
    number=$((number + 1))
    [[ $line == '```'* ]] || continue
    if ((inside)); then
      inside=0
    else
      inside=1
      case ${line#'```'} in
        console | mermaid | text) ;;
        *) fail "$name:$number: code block \"$line\": docs carry no pasted code (use console, mermaid or text)" ;;
      esac
    fi
  done <"$file"
}

# The text of FILE outside code blocks, then its inline code spans.
prose() {
  awk '/^```/ { inside = !inside; next } !inside' "$1"
}
inline_code() {
  prose "$1" | grep -o '`[^`]*`' | tr -d '`'
}

# check_references FILE: make targets, paths, functions.
check_references() {
  local file=$1 name=${1#"$src"/} dir target path function
  dir=$(dirname "$file")

  # make targets, in inline code and in console blocks.
  while read -r target; do
    [[ -z $target ]] && continue
    (cd "$root" && env -u MAKEFLAGS -u MAKELEVEL make -n "$target" >/dev/null 2>&1) ||
      fail "$name: \`make $target\`: no such target in the Makefile"
  done < <({
    inline_code "$file"
    grep -E '^\$ (sudo )?make' "$file" | sed 's/^\$ //'
  } | grep -oE '(^|[;&|] *)make( +[A-Z]+=[^ ]*)*( +[a-z][a-z0-9-]*)?' |
    awk '{ t = "all"; for (i = 2; i <= NF; i++) if ($i !~ /=/) { t = $i; break } print t }' |
    sort -u)

  # Paths in the repository, anywhere in the text, and Markdown links.
  while read -r path; do
    [[ -z $path ]] && continue
    path=${path%.}  # a path may end a sentence
    path=${path%,}
    compgen -G "$root/$path" >/dev/null || fail "$name: path $path does not exist"
  done < <(grep -oE '(^|[^A-Za-z0-9_./-])(stage[1-5]-[a-z]+|common|demo|docs|tests|bench|fuzz|bin)/[A-Za-z0-9_.*/-]*' "$file" |
    sed -E 's/^[^A-Za-z0-9_.*/-]//' | grep -v '/$' | sort -u)
  while read -r path; do
    [[ -z $path || $path == http* || $path == \#* ]] && continue
    path=${path%%#*}
    [[ -e $dir/$path ]] || fail "$name: link to $path, which does not exist"
  done < <(prose "$file" | grep -oE '\]\([^)]+\)' | sed -E 's/^\]\(//; s/\)$//' | sort -u)

  # function() in inline code: called or defined in the sources.
  while read -r function; do
    [[ -z $function ]] && continue
    grep -qE "(^|[^A-Za-z0-9_])$function\(" "$src"/stage*/*.cpp "$src"/stage*/*.hpp "$src"/common/*.hpp ||
      fail "$name: \`$function()\` appears nowhere in stage*/ or common/"
  done < <(inline_code "$file" | grep -oE '^[A-Za-z_][A-Za-z0-9_:]*\(\)$' | sed 's/()$//; s/.*:://' | sort -u)
}

for file in "${lessons[@]}"; do
  [[ -f $file ]] || continue
  check_code_blocks "$file"
  check_references "$file"
  check_examples "$file"
done

echo "docs_test: $checked examples run, $skipped skipped, from ${#lessons[@]} lessons"
if ((failures > 0)); then
  echo "docs_test: $failures problem(s)"
  exit 1
fi
echo "docs_test: all examples and references match the programs"
