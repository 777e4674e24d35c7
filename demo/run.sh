#!/usr/bin/env bash
# demo/run.sh: the whole exercise of the course, on this machine, in seconds.
#
# Purpose: what the exercise has two people do with nc on two servers, this
# script does with the project's own programs on loopback, and prints what
# each person would have seen on their screen:
#   1. Bob listens (stage3-duplex -l), Alice connects (stage3-duplex); Bob
#      types "Hello", Alice types "World"; each then ends their input.
#   2. A web server made of stage3-duplex and a canned page
#      (demo/response.http): Alice types an HTTP request by hand
#      (stage4-http -C), then lets stage4-http write it from a URL (-v).
#   3. Bob hosts the whole class (stage6-class -l): Alice, Carol and Dave
#      join with nc (stage3-duplex where nc is missing) and talk; Carol
#      stops reading (Ctrl-Z, here SIGSTOP) while Dave pastes a few MB,
#      and the room drops her instead of waiting; resumed at once, she reads
#      whole lines and why she was dropped; everyone else gets every line. The room runs with -r 0 (no flood control): at its default
#      rate, Dave's paste would take days to come through.
#   4. Only with a URL given (make demo URL=http://www.google.com/): the same
#      URL fetch against a real web site, online.
# Nobody types here: each person's keyboard is a named pipe (FIFO) the
# script writes to, a line at a time, with pauses. Everything listens on
# 127.0.0.1, on a port the system picks (port 0, read back from -v).
#
# Every process started is recorded and killed by PID on exit (trap), and
# every wait has a deadline, so the demo always ends, and ends clean.
#
# Usage: demo/run.sh [URL]        (or: make demo [URL=http://HOST/])
#
# See also: docs/README.md, docs/architecture.md, docs/stage3-duplex.md,
# docs/stage4-http.md, docs/stage6-class.md; mkfifo(1); the exercise, "Make
# TCP connections".

set -euo pipefail
cd "$(dirname "$0")/.."

readonly URL=${1:-}
readonly PAUSE=0.4  # seconds between two things a person does, to read along
readonly BIN=bin

for program in stage3-duplex stage4-http stage6-class; do
  if [[ ! -x $BIN/$program ]]; then
    echo "demo: $BIN/$program is missing: run make first (make demo does)" >&2
    exit 1
  fi
done

# The canned page must say its own length right, or clients wait for bytes
# that never come (or stop short): check it, so that editing it is safe.
head_size=$(grep -abm1 $'^\r$' demo/response.http | cut -d: -f1 || true)
declared=$(grep -im1 '^Content-Length:' demo/response.http | tr -dc 0-9 || true)
actual=$(($(wc -c <demo/response.http) - ${head_size:-0} - 2))
if [[ -z $head_size || $declared != "$actual" ]]; then
  echo "demo: demo/response.http says Content-Length: $declared; its body is $actual bytes" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/netcat-demo.XXXXXX")
pids=()

# Kills, by PID, whatever this script started and is still running, then
# removes the scratch folder. Runs on every way out, Ctrl-C included.
cleanup() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do
    kill "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true  # a stopped process acts on SIGTERM only once resumed
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "demo: FAILED: $*" >&2
  exit 1
}

# start NAME SCREEN INPUT COMMAND...: runs COMMAND in the background with
# stdin from INPUT and both stdout and stderr appended to SCREEN, as on a
# terminal. The PID is kept in pids[] and in the variable pid_NAME. The
# keyboards (file descriptors 3 to 6) stay with the script: a program that
# held another person's keyboard open would keep them from ending their input.
start() {
  local name=$1 screen=$2 input=$3
  shift 3
  "$@" <"$input" >>"$screen" 2>&1 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  printf -v "pid_$name" '%s' "$!"
}

# wait_for FILE TEXT [SECONDS]: waits until a line of FILE contains TEXT
# (a fixed string); fails after SECONDS. wait_for_line: a line that is TEXT.
wait_for() {
  wait_until "$1" "$2" "${3:-5}" -qF
}
wait_for_line() {
  wait_until "$1" "$2" "${3:-5}" -qxF
}
wait_until() {
  local file=$1 text=$2 seconds=$3 flags=$4 tries
  for ((tries = seconds * 20; tries > 0; tries--)); do
    grep "$flags" -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "waited ${seconds}s for \"${text//$'\r'/\\r}\" in $(basename "$file")"
}

# wait_exit PID [SECONDS]: waits for the process to end and sets `status` to
# its exit status; kills it and fails after SECONDS.
wait_exit() {
  local pid=$1 seconds=${2:-5} tries
  for ((tries = seconds * 20; tries > 0; tries--)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    fail "process $pid still running after ${seconds}s"
  fi
  status=0
  wait "$pid" || status=$?
}

# listening_port FILE: the port of the "listening on ADDRESS port N" line,
# once it is there: the program writes that line in several pieces.
listening_port() {
  local tries port
  for ((tries = 100; tries > 0; tries--)); do
    port=$(awk '/^listening on .* port [0-9]+$/ { print $NF; exit }' "$1" 2>/dev/null)
    [[ -n $port ]] && echo "$port" && return 0
    sleep 0.05
  done
  fail "no \"listening on ... port N\" line in $(basename "$1")"
}

# type_line SCREEN FD TEXT NOTE: a person types TEXT and presses Enter: the
# terminal would echo it on their screen, and it goes to the program's stdin.
type_line() {
  local screen=$1 fd=$2 text=$3 note=$4
  printf '%-40s %s\n' "$text" "<- $note" >>"$screen"
  printf '%s\n' "$text" >&"$fd"
  sleep "$PAUSE"
}

# note SCREEN TEXT NOTE: marks the first line that is TEXT (a line typed by
# hand never is: it carries a note already), once the program
# writing to SCREEN has ended, e.g. as what came from the other person.
note() {
  awk -v text="$2" -v note="<- $3" '
    { line = $0; sub(/\r$/, "", line) }  # an HTTP line ends with CR: not shown
    !done && line == text { printf "%-40s %s\n", line, note; done = 1; next }
    { print }' "$1" >"$1.noted"
  mv "$1.noted" "$1"
}

# show TITLE SCREEN: prints a screen, indented, with a title.
show() {
  echo
  echo "$1"
  sed 's/^/    | /' "$2"
}

# A keyboard: a FIFO opened read-write on file descriptor FD, so that opening
# it never blocks and the reader sees end of file only when FD is closed.
keyboard() {
  mkfifo "$work/$1.in"
  eval "exec $2<>\"\$work/\$1.in\""
}

# ---------------------------------------------------------------------------
echo "=== 1. Bob and Alice talk over TCP (bin/stage3-duplex, as nc in the exercise)"
echo "Both run on this machine: Alice reaches Bob's server at 127.0.0.1, where the"
echo "exercise has W.X.Y.Z; port 0 lets the system pick a free port instead of 3000."

bob=$work/bob.screen
alice=$work/alice.screen
keyboard bob 3
keyboard alice 4

echo "\$ bin/stage3-duplex -v -l 127.0.0.1 0" >"$bob"
start bob "$bob" "$work/bob.in" "$BIN/stage3-duplex" -v -l 127.0.0.1 0
port=$(listening_port "$bob")

echo "\$ bin/stage3-duplex -v 127.0.0.1 $port" >"$alice"
start alice "$alice" "$work/alice.in" "$BIN/stage3-duplex" -v 127.0.0.1 "$port"
wait_for "$alice" "connected to "
wait_for "$bob" "connection from "
sleep "$PAUSE"

type_line "$bob" 3 "Hello" "Bob types"
wait_for "$alice" "Hello"
type_line "$alice" 4 "World" "Alice types"
wait_for "$bob" "World"

# The exercise ends with Ctrl-C. Here each ends their input instead (Ctrl-D),
# which lets both programs finish on their own and report what they moved.
printf '%-40s %s\n' "(Ctrl-D)" "<- Bob ends his input: stage3-duplex sends FIN" >>"$bob"
exec 3>&-
sleep "$PAUSE"
printf '%-40s %s\n' "(Ctrl-D)" "<- Alice ends hers: FIN the other way" >>"$alice"
exec 4>&-
wait_exit "$pid_bob"
bob_status=$status
wait_exit "$pid_alice"
alice_status=$status
echo "(exit status $bob_status)" >>"$bob"
echo "(exit status $alice_status)" >>"$alice"

grep -qx "World" "$bob" && grep -qx "Hello" "$alice" || fail "Hello and World did not both arrive"
note "$bob" "World" "from Alice"
note "$alice" "Hello" "from Bob"
show "Bob's screen:" "$bob"
show "Alice's screen:" "$alice"
((bob_status == 0 && alice_status == 0)) || fail "a program exited with a failure status"

# ---------------------------------------------------------------------------
# serve NAME: starts a web server made of stage3-duplex: it listens on a free
# port (left in `port`) and prints what it receives to $work/NAME.request.
# Its stdin is a FIFO on FD 5, which answer() fills with demo/response.http.
serve() {
  local name=$1
  rm -f "$work/server.in"
  keyboard server 5
  : >"$work/$name.log"
  "$BIN/stage3-duplex" -v -l 127.0.0.1 0 <"$work/server.in" \
    >"$work/$name.request" 2>"$work/$name.log" 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  server_pid=$!
  port=$(listening_port "$work/$name.log")
}

# answer NAME: when the request has arrived in full (its head ends with an
# empty line, CR LF alone), the server writes the page and ends its input.
answer() {
  wait_for_line "$work/$1.request" $'\r'
  cat demo/response.http >&5
  exec 5>&-
}

# request NAME: what the server received, with each CR shown as \r.
request() {
  sed 's/\r/\\r/g; s/^/    | /' "$work/$1.request"
}

echo
echo "=== 2. A web server is a program writing text on a socket"
echo "The server: bin/stage3-duplex -l 127.0.0.1 PORT, whose input is demo/response.http"
echo "(an HTTP/1.1 response: status line, headers, empty line, page), given to it"
echo "once the request has arrived. There is no web server software here at all."

echo
echo "--- 2a. HTTP by hand (the exercise: nc, then type the request)"
serve byhand
page=$work/page.screen
keyboard page 6
echo "\$ bin/stage4-http -C 127.0.0.1 $port" >"$page"
start page "$page" "$work/page.in" "$BIN/stage4-http" -C 127.0.0.1 "$port"
sleep "$PAUSE"
type_line "$page" 6 "GET / HTTP/1.1" "Alice types the request line"
type_line "$page" 6 "Host: localhost" "the Host header HTTP/1.1 requires"
type_line "$page" 6 "" "an empty line: the request is complete"
answer byhand
wait_for "$page" "</html>"
printf '%-40s %s\n' "(Ctrl-D)" "<- Alice ends her input" >>"$page"
exec 6>&-
wait_exit "$pid_page"
page_status=$status
wait_exit "$server_pid"
((status == 0)) || fail "the web server exited with status $status"
echo "(exit status $page_status)" >>"$page"
note "$page" "HTTP/1.1 200 OK" "from the web server: the status line"
note "$page" "Content-Length: $declared" "the page is exactly $declared bytes: where it ends"
note "$page" "" "an empty line ends the headers; the page follows"
grep -q "^HTTP/1.1 200 OK" "$page" || fail "no HTTP/1.1 200 response by hand"
show "Alice's screen:" "$page"
show "The web server's messages (-v, on its stderr):" "$work/byhand.log"
echo
echo "What the web server received (-C turned each Enter into CR LF, \\r\\n):"
request byhand
((page_status == 0)) || fail "stage4-http -C exited with status $page_status"

echo
echo "--- 2b. The same page from a URL: stage4-http writes the request itself"
serve url
fetch=$work/fetch.screen
echo "\$ bin/stage4-http -v http://127.0.0.1:$port/" >"$fetch"
: >"$work/empty"
start fetch "$fetch" "$work/empty" "$BIN/stage4-http" -v "http://127.0.0.1:$port/"
answer url
wait_exit "$pid_fetch"
fetch_status=$status
wait_exit "$server_pid"
((status == 0)) || fail "the web server exited with status $status"
echo "(exit status $fetch_status)" >>"$fetch"
show "Alice's screen (* what happens, > sent, < received; then the response as received):" "$fetch"
grep -q "^< HTTP/1.1 200 OK" "$fetch" || fail "no HTTP/1.1 200 response from the URL"
((fetch_status == 0)) || fail "stage4-http exited with status $fetch_status"

# ---------------------------------------------------------------------------
# The room's clients: nc, as the students would run it, or stage3-duplex.
if command -v nc >/dev/null; then
  client=(nc)
  client_name="nc"
else
  client=("$BIN/stage3-duplex")
  client_name="bin/stage3-duplex"
fi
readonly PASTE_LINES=10000  # lines in each 1 MB piece of Dave's paste
readonly PASTE_PIECES=16    # at most: the drop comes after about 5 on Linux

# join NAME FD: NAME connects to the room with the client, its keyboard on FD.
join() {
  local name=$1 fd=$2
  keyboard "$name-room" "$fd"  # scene 1 has an alice.in already
  echo "\$ $client_name 127.0.0.1 $port" >"$work/$name.screen"
  start "$name" "$work/$name.screen" "$work/$name-room.in" "${client[@]}" 127.0.0.1 "$port"
  wait_for "$work/$name.screen" "* you are "
}

# paste_piece N: Dave pastes the Nth piece of his file, PASTE_LINES lines of
# 100 bytes (1 MB) numbered across pieces, so that a reader's copy can be checked
# for every line, in order. A writer of its own, so the wait has a deadline.
paste_piece() {
  awk -v from=$((($1 - 1) * PASTE_LINES + 1)) -v count=$PASTE_LINES 'BEGIN {
    for (i = from; i < from + count; i++)
      printf "line %07d of the file Dave pastes: %s\n", i, "the quick brown fox jumps over the lazy dog, again and again."
  }' >&6 3>&- 4>&- 5>&- &
  pids+=("$!")
  wait_exit "$!" 10
}

# pasted SCREEN: how many lines of Dave's paste SCREEN holds, if they are
# lines 1, 2, 3... with none missing; "broken" otherwise.
pasted() {
  awk '/^<dave> line [0-9]+ of the file/ { if ($3 + 0 != ++n) { print "broken"; bad = 1; exit } }
    END { if (!bad) print n + 0 }' "$1"
}

# condense SCREEN: one line in place of each run of pasted lines.
condense() {
  awk '/^<dave> line [0-9]+ of the file/ { if (!n) first = $3; last = $3; n++; next }
    n { printf "(%d lines: <dave> line %s ... <dave> line %s, every one)\n", n, first, last; n = 0 }
    { print }
    END { if (n) printf "(%d lines: <dave> line %s ... <dave> line %s, then nothing more)\n", n, first, last }' \
    "$1" >"$1.condensed"
  mv "$1.condensed" "$1"
}

echo
echo "=== 3. Bob hosts the whole class: one room, many clients (bin/stage6-class)"
echo "Bob runs the room; Alice, Carol and Dave join with $client_name, as every student"
echo "would from their own machine. One poll() loop serves them all. -r 0 turns flood"
echo "control off, so that Dave's paste of megabytes goes through at once."

host=$work/host.screen
keyboard host 3
echo "\$ bin/stage6-class -v -r 0 -l 127.0.0.1 0" >"$host"
start host "$host" "$work/host.in" "$BIN/stage6-class" -v -r 0 -l 127.0.0.1 0
port=$(listening_port "$host")

join alice 4
type_line "$work/alice.screen" 4 "/nick alice" "Alice takes a name"
join carol 5
type_line "$work/carol.screen" 5 "/nick carol" "Carol too"
join dave 6
type_line "$work/dave.screen" 6 "/nick dave" "and Dave"
wait_for "$host" "is now dave"
type_line "$host" 3 "Welcome, everyone!" "Bob types"
type_line "$work/alice.screen" 4 "hi from alice" "Alice types"
wait_for "$work/carol.screen" "<alice> hi from alice"

# Ctrl-Z: Carol's client stops, and reads nothing more.
printf '%-40s %s\n' "(Ctrl-Z)" "<- Carol suspends her client: it reads nothing more" >>"$work/carol.screen"
kill -STOP "$pid_carol"
printf '%-40s %s\n' "(pastes a big file)" "<- Dave pastes 1 MB at a time, until the room gives up on Carol" \
  >>"$work/dave.screen"
pieces=0
while ((pieces < PASTE_PIECES)) && ! grep -q "^\* carol dropped: not reading" "$host"; do
  pieces=$((pieces + 1))
  paste_piece "$pieces"
  printf -v last '%07d' $((pieces * PASTE_LINES))
  wait_for "$host" "<dave> line $last of the file" 10
done
grep -q "^\* carol dropped: not reading" "$host" ||
  fail "Carol was not dropped after $pieces MB"
# fg within the room's two seconds of goodbye: Carol's client prints what
# the kernels held for her, the end of the line she held half of, and why.
printf '%-40s %s\n' "(fg)" "<- Carol resumes: what her kernel and Bob's held, then why she was dropped" \
  >>"$work/carol.screen"
kill -CONT "$pid_carol"
wait_for "$work/carol.screen" "* you were dropped: not reading" 10
wait_for "$work/alice.screen" "* carol dropped: not reading" 10
type_line "$work/alice.screen" 4 "still here" "Alice: the room goes on"
wait_for "$work/dave.screen" "<alice> still here"
printf '%-40s %s\n' "(Ctrl-D)" "<- Carol's client ends" >>"$work/carol.screen"
exec 5>&-
wait_exit "$pid_carol" 10
# The room's last write() to her may have taken part of a line only.
if [[ -n $(tail -c 1 "$work/carol.screen") ]]; then
  cut_line=$(tail -n 1 "$work/carol.screen")
  printf '%*s %s\n' $((40 - ${#cut_line})) "" "<- cut: the room's last write() to her took part of a line" \
    >>"$work/carol.screen"
fi
echo "(exit status $status)" >>"$work/carol.screen"

# Ctrl-C: the room says goodbye; each client then ends its input.
printf '%-40s %s\n' "(Ctrl-C)" "<- Bob closes the room" >>"$host"
kill -INT "$pid_host"
wait_exit "$pid_host"
echo "(exit status $status)" >>"$host"
host_status=$status
for name in alice dave; do
  wait_for "$work/$name.screen" "* server closing"
done
exec 4>&- 6>&- 3>&-
wait_exit "$pid_alice"
wait_exit "$pid_dave"

total=$((pieces * PASTE_LINES))
for name in host alice; do
  [[ $(pasted "$work/$name.screen") == "$total" ]] || fail "$name did not get all $total lines"
done
got=$(pasted "$work/carol.screen")
[[ $got != broken ]] && ((got < total)) || fail "Carol's lines: $got of $total"
for name in host alice carol dave; do
  condense "$work/$name.screen"
done
note "$work/alice.screen" "<host> Welcome, everyone!" "from Bob, the host"
show "Bob's screen (the room's record, with -v on stderr):" "$host"
show "Alice's screen:" "$work/alice.screen"
show "Carol's screen:" "$work/carol.screen"
show "Dave's screen:" "$work/dave.screen"
echo
echo "Dave's $((total / PASTE_LINES)) MB ($total lines) reached Bob and Alice whole; Carol's client, suspended,"
echo "got $got of them, held by the kernels, before the room dropped her (256 KiB queued"
echo "for her at most): nobody waited for her."
((host_status == 0)) || fail "stage6-class exited with status $host_status"

# ---------------------------------------------------------------------------
if [[ -n $URL ]]; then
  echo
  echo "=== 4. Online: $URL"
  online=$work/online.screen
  echo "\$ bin/stage4-http -v -w 10 $URL" >"$online"
  start online "$online" "$work/empty" "$BIN/stage4-http" -v -w 10 "$URL"
  wait_exit "$pid_online" 30
  online_status=$status
  # Real pages are long, and HTML lines longer: the start of each line will do.
  size=$(wc -c <"$online")
  head -n 40 "$online" | cut -c 1-100 | sed 's/^/    | /'
  echo "    | ... ($size bytes on the screen in all; exit status $online_status)"
  ((online_status == 0)) || fail "stage4-http $URL exited with status $online_status"
fi

echo
echo "Done: a two-way TCP conversation, an HTTP exchange and a room for the whole"
echo "class, with the project's own programs. Next: docs/README.md, and make diff FROM=1 TO=2."
