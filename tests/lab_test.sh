#!/usr/bin/env bash
# lab_test.sh: make lab's scenes, run for real, as root and as an ordinary user.
#
# Purpose: the lab (lab/run.sh) shows students real addresses, real packets
# and real failures; this test runs it and checks what it shows: the hosts'
# addresses in the ladder, the handshake (SYN, SYN-ACK, ACK) and the end
# (FIN), ping's echo request and reply, nginx's 400 to a mistyped request
# and its FIN to one typed too slowly, each failure's exact message beside
# its packets (RST, ICMP host unreachable, a SYN with no answer, a reset),
# each checked within its own scene, every ladder's times (none negative,
# none earlier than the rung above; and a capture kept waiting for the CPU
# still draws frames at the times they passed), the web page and who it says sent it,
# IPv4 listeners and one name per address in the IPv4-only lab; then two
# lab shells on two terminals, sharing one lab until the last one leaves,
# and LAB_NGINX=none; and that nothing is left behind: this machine's
# interfaces, addresses and routes (ip link, ip addr, ip route, ip -6 route),
# named namespaces (ip netns list), and no process this test started still
# running (stopped by PID on the way out, even after a failure).
#
# Run as root (as in CI), it plays the lab twice: as root, then as the user
# nobody (setpriv), which is the unprivileged path through a user namespace
# that students without sudo take. Run as an ordinary user, it plays the
# unprivileged path only. Where the lab cannot run (no namespaces, no ip)
# the test is skipped with the lab's own reason (exit 77), except under
# CI=true, where that is a failure; and so is a skip after a failure.
#
# Time: every wait is bounded, and the bounds add up to less than ctest's
# TIMEOUT for lab_test (tests/CMakeLists.txt, 900 s), so ctest never has to
# kill the test (SIGKILL: no EXIT trap, the work folder left). Per mode:
# the stamps 10+2 s; make lab 100+5 s (Chromium's scene included); the two
# terminals 5+5 (their sessions) + 8 waits of 10 s (counted in whole
# seconds, each may last 11) + 2 ends of 10 s + 5 s for the sleep that
# Ctrl-C stops + 1 s of typing = 124 s; the two labs 5+5 + 4 waits and 2
# ends of 10 s (11 each) + 1 = 77 s; LAB_NGINX=none 30+5 s; the stray
# check 6 s: 359 s; two modes 718 s, and 2 s to stop what is left. A
# normal run takes about two and a half minutes in all (make lab some 20 s
# per mode, the shells some 10 s).
#
# The shells' test types on pseudo-terminals (script(1)): Ctrl-D, Ctrl-C and
# a shell's job control act only there; with a pipe as input, the fault of
# a first shell whose Ctrl-D killed the others' shells did not show.
#
# Usage: tests/lab_test.sh [SOURCE_DIR [BIN_DIR]]
#   defaults: the repository holding this script, and its bin/ (after make
#   and make bin/lab-ladder); ctest runs it with CMake's bin: ctest -L lab
#
# See also: lab/run.sh, docs/lab.md, tests/lab_ladder_test.cpp.

set -uo pipefail

src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
bin=$(cd "${2:-$src/bin}" 2>/dev/null && pwd) || {
  echo "lab_test: no programs in ${2:-$src/bin}: build them first" >&2
  exit 1
}
export PATH=$PATH:/usr/sbin:/sbin

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# skip REASON: exit 77 (ctest: skipped), or fail under CI=true; after a
# failure (a root run that failed, then a nobody run that cannot run), the
# test failed, whatever comes after.
skip() {
  if ((failures > 0)); then
    echo "lab_test: $failures problem(s); then the lab could not go on: $*"
    exit 1
  fi
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: the lab must run in CI: $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

for program in stage1-listen stage2-connect stage3-duplex stage4-http lab-ladder; do
  [[ -x $bin/$program ]] || {
    echo "lab_test: $bin/$program is missing: build it first" >&2
    exit 1
  }
done

# What the lab needs (its script, the page, the programs), copied where an
# ordinary user can read it: the repository may sit in a home folder nobody
# else may enter (/root, in CI). Each run writes its lab folder in lab/.
# Not in TMPDIR, which ctest points into the build folder, for that reason.
work=$(mktemp -d /tmp/lab_test.XXXXXX)
trap 'stop_ours; rm -rf "$work"' EXIT
mkdir -p "$work/copy/lab" "$work/copy/bin" "$work/runs"
cp "$src/lab/run.sh" "$work/copy/lab/"
cp "$src/Makefile" "$work/copy/"
cp "$bin"/stage[0-9]-* "$bin/lab-ladder" "$work/copy/bin/"
chmod -R a+rX "$work"
chmod 1777 "$work/runs"

# The machine's network: its links, addresses and routes (without the
# lifetimes and expiries that count down by themselves), and named namespaces.
machine_links() { ip -o link show | awk -F': ' '{ print $2 }' | sort; }
machine_addresses() { ip -o addr show | awk '{ print $2, $3, $4 }' | sort; }
machine_routes() {
  { ip route show table all; ip -6 route show table all; } 2>/dev/null |
    sed -E 's/ expires [0-9]+sec//' | sort
}
machine_netns() { ip netns list 2>/dev/null | sort; }

# The sessions this test started (setsid), one per lab/run.sh: every process
# of a lab is in its run's session (timeout, unshare, nsenter and the hosts'
# shells keep it), and its command lines name $work. A lab someone else runs
# at the same time is in neither.
sessions=()
# ours: "PID command line" of each live process in our sessions or naming
# $work. (A process that has ended and not yet been reaped, a zombie, has an
# empty command line: it runs no more, and is not listed.)
ours() {
  local stat line rest fields pid cmdline
  {
    for stat in /proc/[0-9]*/stat; do
      read -r line 2>/dev/null <"$stat" || continue
      rest=${line##*) }  # after the command name, which may hold blanks
      read -ra fields <<<"$rest"  # state, parent, group, session
      [[ " ${sessions[*]} " == *" ${fields[3]} "* ]] && echo "${stat//[^0-9]/}"
    done
    grep -lsF -- "$work" /proc/[0-9]*/cmdline | tr -cd '0-9\n'
  } | sort -un | while read -r pid; do
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")
    [[ -n $cmdline ]] && echo "$pid $cmdline"
  done
}

# stop_ours: on the way out, every process of ours still running (a test
# that failed halfway), by PID: TERM (the lab's keeper then removes its lab),
# then KILL after 2 s.
stop_ours() {
  local pids tries
  pids=$(ours | cut -d ' ' -f 1)
  [[ -n $pids ]] || return 0
  # shellcheck disable=SC2086  # one PID a word
  kill -TERM $pids 2>/dev/null
  for ((tries = 40; tries > 0; tries--)); do
    pids=$(ours | cut -d ' ' -f 1)
    [[ -n $pids ]] || return 0
    sleep 0.05
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
}

# expect_line FILE TEXT WHAT: a line of FILE contains TEXT (fixed string).
expect_line() {
  grep -qF -- "$2" "$1" || fail "$3: no line with \"$2\" in the lab's output ($(basename "$1"))"
}

# wait_for FILE TEXT: until FILE has a line containing TEXT (10 s at most).
wait_for() {
  local tries end=$((SECONDS + 10))
  for ((tries = 200; tries > 0 && SECONDS < end; tries--)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# terminal NAME FD HOST MODE COMMAND...: `make lab-shell HOST=HOST` as MODE's
# user (COMMAND), with LAB=$terminal_lab if set, on a pseudo-terminal of its own (script(1)), as a student
# runs it: a lab shell's job control, Ctrl-C and Ctrl-D exist only there.
# Its keyboard is a FIFO held open by the test on descriptor FD (a byte 4 is
# Ctrl-D, 3 Ctrl-C, as a terminal's line discipline reads them); its screen
# is $work/MODE.NAME. The subshell becomes setsid, then timeout: its PID,
# term_NAME, is a session of ours, and so is the one script makes for make.
terminal() {
  local name=$1 fd=$2 host=$3 mode=$4
  shift 4
  local keys=$work/runs/$mode.$name.keys pid tries child
  mkfifo -m 666 "$keys"
  eval "exec $fd<>\"\$keys\""
  # env --default-signal: a job started with & ignores SIGINT, and so would
  # every program of the shell after it; a terminal's programs do not.
  (cd "$work/copy" && exec 5>&- 6>&- 8>&- && exec setsid "$@" env -u MAKEFLAGS -u MAKELEVEL \
    TMPDIR="$work/runs" LAB_BIN=bin SHELL=/bin/sh TERM=dumb --default-signal=INT,QUIT \
    timeout -k 5 60 script -q -f -c "make lab-shell HOST=$host${terminal_lab:+ LAB=$terminal_lab}; echo \"make lab-shell exit status \$?\"" \
    /dev/null <"$keys" >"$work/$mode.$name" 2>&1) &
  pid=$!
  printf -v "term_$name" '%s' "$pid"
  sessions+=("$pid")
  # script's child leads the session of make and the lab's shell.
  for ((tries = 100; tries > 0; tries--)); do
    # shellcheck disable=SC2013  # PIDs, one a word
    for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
      read -r child <"/proc/$child/task/$child/children" 2>/dev/null && break 2
    done
    sleep 0.05
  done
  [[ -n ${child:-} ]] && sessions+=("$child")
  return 0
}

# foreground COMMAND: true once a process running COMMAND (its whole command
# line) holds its terminal, its process group the terminal's foreground
# one: a Ctrl-C typed then reaches it (5 s at most).
foreground() {
  local tries file line fields
  for ((tries = 100; tries > 0; tries--)); do
    # shellcheck disable=SC2013  # file names, one a word
    for file in $(grep -lsF -- "${1##* }" /proc/[0-9]*/cmdline); do
      [[ $(tr '\0' ' ' 2>/dev/null <"$file") == "$1 " ]] || continue
      read -r line 2>/dev/null <"${file%cmdline}stat" || continue
      read -ra fields <<<"${line##*) }"  # state, parent, group, session, tty, tty's group
      [[ ${fields[2]} == "${fields[5]}" ]] && return 0
    done
    sleep 0.05
  done
  return 1
}

# ended PID: true once PID has ended (10 s at most).
ended() {
  local tries end=$((SECONDS + 10))
  for ((tries = 200; tries > 0 && SECONDS < end; tries--)); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    sleep 0.05
  done
  return 1
}

# left_normally FILE WHO MODE: the terminal's make lab-shell ended with
# status 0 and no error line from make or bash.
left_normally() {
  expect_line "$1" "make lab-shell exit status 0" "$2's make lab-shell ends with status 0, as $3"
  if grep -E "make: \*\*\*|Killed|Terminated|lab/run.sh: line" "$1" >/dev/null; then
    fail "$2's terminal, as $3, shows an error after leaving:"
    grep -E "make: \*\*\*|Killed|Terminated|lab/run.sh: line" "$1" | sed 's/^/    | /'
  fi
}

# shells MODE COMMAND...: two terminals, as in a class: make lab-shell
# HOST=bob starts a lab, HOST=alice joins it; Alice connects to Bob by name;
# Bob leaves first with Ctrl-D, and Alice's shell goes on; she interrupts a
# command with Ctrl-C, then types exit. Each make ends with status 0, and
# the lab ends, removed, when Alice, its last shell, has left.
# shellcheck disable=SC2154  # term_bob, term_alice: set by printf -v in terminal()
shells() {
  local mode=$1
  shift
  local bob=$work/$mode.bob alice=$work/$mode.alice
  terminal bob 5 bob "$mode" "$@"
  wait_for "$bob" "You are on bob" || fail "make lab-shell HOST=bob as $mode: no shell on bob"
  expect_line "$bob" "lab: started a lab" "the first shell starts a lab, as $mode"
  terminal alice 6 alice "$mode" "$@"
  wait_for "$alice" "You are on alice" || fail "make lab-shell HOST=alice as $mode: no shell on alice"
  expect_line "$alice" "lab: joined the running lab" "the second shell joins the first one's lab, as $mode"
  expect_line "$alice" "where shells are on: bob." "the joining shell says who is there, as $mode"
  expect_line "$alice" "www 198.51.100.80 (nginx on port 80" "the joining shell lists the hosts, as $mode"
  expect_line "$alice" "nc says nothing; your next line gets a reset, and nc exits, status 0, without a word." \
    "the shell's banner says what nc does when the server closes, as $mode"
  if [[ $mode != root ]]; then
    expect_line "$alice" "id says root: in the lab's user namespace" "the shell says why id says root, as $mode"
  fi
  printf 'stage1-listen -v -l 3000\n' >&5
  wait_for "$bob" "listening on" || fail "stage1-listen did not start in bob's shell as $mode"
  printf 'echo Hello | stage2-connect -v bob 3000\n' >&6
  wait_for "$alice" "connected to 192.0.2.20 port 3000" || fail "alice did not connect to bob, as $mode"
  wait_for "$bob" "Hello" || fail "Bob's shell did not print Alice's Hello, as $mode"
  sleep 0.3  # stage1-listen's end, and bob's prompt
  # Bob leaves with Ctrl-D; Alice's shell must not notice.
  printf '\004' >&5
  ended "$term_bob" || fail "bob's terminal still runs 10 s after his Ctrl-D, as $mode"
  left_normally "$bob" "Bob" "$mode"
  # shellcheck disable=SC2016  # expanded by Alice's shell
  printf 'echo "still here: $(hostname)"\n' >&6
  wait_for "$alice" "still here: alice" ||
    fail "Alice's shell did not answer after Bob's Ctrl-D, as $mode (expected \"still here: alice\"; her screen: $(tail -n 3 "$alice" | tr -d '\r' | tr '\n' '|'))"
  # A command stopped with Ctrl-C, then exit: the shell's status is 130,
  # make lab-shell's is 0.
  # The lab is IPv4 only: no ::1 on lo, no fe80:: on the cables.
  printf 'ip -br address\n' >&6
  wait_for "$alice" "192.0.2.10/24 " || fail "no ip -br address in alice's shell, as $mode"
  grep -E "::1/128|fe80::[0-9a-f:]*/64" "$alice" && fail "alice's interfaces have IPv6 addresses, as $mode"
  # nginx's web root holds the page alone: its configuration is not served.
  printf 'stage4-http -v http://www/nginx.conf\n' >&6
  wait_for "$alice" "< HTTP/1.1 404 Not Found" || fail "http://www/nginx.conf is not 404, as $mode"
  grep -E "client_header_timeout [0-9]+s;|user root root;" "$alice" && fail "www serves its nginx.conf, as $mode"
  printf 'sleep 31.4159; echo "not interrupted"\n' >&6
  foreground "sleep 31.4159" || fail "alice's sleep never held her terminal, as $mode"
  printf '\003' >&6
  sleep 0.3
  printf 'exit\n' >&6
  ended "$term_alice" || fail "alice's terminal still runs 10 s after exit, as $mode"
  left_normally "$alice" "Alice" "$mode"
  grep -q "^not interrupted" "$alice" && fail "Ctrl-C did not interrupt alice's sleep, as $mode"
  local term
  for term in "$term_bob" "$term_alice"; do
    kill -TERM "$term" 2>/dev/null && wait "$term" 2>/dev/null
  done
  exec 5>&- 6>&-
  echo "--- make lab-shell, two terminals, as $mode: checked"
}

# two_labs MODE COMMAND...: make lab-shell LAB=one HOST=bob and LAB=two
# HOST=bob on two terminals, as two pairs on one account: two labs, apart,
# each Bob listening on port 3000 of his own; each ends with its shell.
# shellcheck disable=SC2154  # term_one, term_two: set by printf -v in terminal()
two_labs() {
  local mode=$1
  shift
  local one=$work/$mode.one two=$work/$mode.two name
  terminal_lab=one terminal one 5 bob "$mode" "$@"
  wait_for "$one" "You are on bob" || fail "make lab-shell LAB=one HOST=bob as $mode: no shell on bob"
  expect_line "$one" "lab: started a lab one (" "LAB=one starts the lab one, as $mode"
  terminal_lab=two terminal two 6 bob "$mode" "$@"
  wait_for "$two" "You are on bob" || fail "make lab-shell LAB=two HOST=bob as $mode: no shell on bob"
  expect_line "$two" "lab: started a lab two (" "LAB=two starts a lab of its own beside lab one, as $mode"
  expect_line "$two" "joins it with: make lab-shell LAB=two HOST=alice" "LAB=two's banner names it, as $mode"
  printf 'stage1-listen -v -4 -l 3000\n' >&5
  printf 'stage1-listen -v -4 -l 3000\n' >&6
  for name in "$one" "$two"; do
    wait_for "$name" "listening on 0.0.0.0 port 3000" ||
      fail "two labs as $mode: Bob of $(basename "$name") does not listen on port 3000: $(tail -n 2 "$name" | tr -d '\r' | tr '\n' '|')"
  done
  printf '\003' >&5
  printf '\003' >&6
  sleep 0.3
  printf 'exit\n' >&5
  printf 'exit\n' >&6
  ended "$term_one" || fail "LAB=one's terminal still runs 10 s after exit, as $mode"
  ended "$term_two" || fail "LAB=two's terminal still runs 10 s after exit, as $mode"
  left_normally "$one" "LAB=one's Bob" "$mode"
  left_normally "$two" "LAB=two's Bob" "$mode"
  exec 5>&- 6>&-
  echo "--- make lab-shell LAB=one and LAB=two, side by side, as $mode: checked"
}

# no_nginx MODE COMMAND...: LAB_NGINX=none make lab-shell says there is no
# nginx and why, and www still serves a page, which says who sent it.
no_nginx() {
  local mode=$1
  shift
  local out=$work/$mode.no-nginx
  (cd "$work/copy" && exec setsid "$@" env -u MAKEFLAGS -u MAKELEVEL TMPDIR="$work/runs" LAB_BIN=bin \
    LAB_NGINX=none timeout -k 5 30 bash lab/run.sh --shell alice \
    <<<'stage4-http http://www/' >"$out" 2>&1) &
  sessions+=("$!")
  wait "$!"
  expect_line "$out" "www 198.51.100.80 (no nginx (LAB_NGINX=none): stage3-duplex sends a page)" \
    "LAB_NGINX=none says what www serves, as $mode"
  expect_line "$out" "This page was sent by stage3-duplex -l 80 on www" \
    "with LAB_NGINX=none, www serves a page saying who sent it, as $mode"
  echo "--- LAB_NGINX=none make lab-shell, as $mode: checked"
}

# scene OUTPUT HEADING FILE: the scene of OUTPUT headed by HEADING (a line
# starting with it) into FILE, up to the next heading ("--- " or "=== ").
scene() {
  awk -v heading="$2" '
    index($0, heading) == 1 { inside = 1; print; next }
    inside && /^(---|===) / { exit }
    inside { print }' "$1" >"$3"
  [[ -s $3 ]] || fail "no scene headed \"$2\" in the lab's output ($(basename "$1"))"
}

# ladder_times_ok FILE WHAT: every rung's time in the ladder FILE is 0 or
# more, and none is earlier than the one above it: a reply drawn before its
# request teaches that replies come first.
ladder_times_ok() {
  local bad
  bad=$(awk '$1 ~ /^-?[0-9]+\.[0-9]+$/ {
      if ($1 < 0 || (seen && $1 < last)) { print NR ": " $0; exit }
      last = $1; seen = 1 }' "$1")
  [[ -z $bad ]] || fail "$2: a time negative or earlier than the rung above, $(basename "$1") line $bad"
}

# The capture's stamps, on a machine whose CPU is busy: lab-ladder is
# stopped (SIGSTOP) while two connections, 0.2 s apart, are refused on
# loopback, then goes on. The kernel stamps each frame as it passes, so the
# ladder keeps the 0.2 s and its order; a stamp taken when the frame is
# read (lab-ladder before issue 21, for frames queued before its first
# read) drew the frames all at once, and a late first one after the next.
# Run in a network namespace of its own (unshare), its processes ended by PID.
# shellcheck disable=SC2016  # expanded by the inner bash
readonly STAMPS_SCRIPT='
  set -u
  bin=$1 dir=$2
  ip link set lo up
  "$bin/lab-ladder" -i lo -w "$dir/stamps.pcap" 2>"$dir/stamps.err" &
  ladder=$!
  trap "kill -KILL $ladder 2>/dev/null" EXIT
  for ((tries = 100; tries > 0; tries--)); do
    grep -q "capturing on" "$dir/stamps.err" && break
    sleep 0.05
  done
  kill -STOP "$ladder"
  (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null
  sleep 0.2
  (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null
  sleep 0.5
  kill -CONT "$ladder"
  sleep 0.3
  kill -TERM "$ladder"
  wait "$ladder"
  "$bin/lab-ladder" -n /dev/null -r "$dir/stamps.pcap" >"$dir/stamps.ladder"'

# stamps MODE COMMAND...: the check above, as MODE's user.
stamps() {
  local mode=$1
  shift
  local dir=$work/runs/stamps.$mode ladder
  mkdir -m 777 "$dir"
  local user=()
  [[ $mode != root ]] && user=(--user --map-root-user)
  (exec setsid "$@" timeout -k 2 10 unshare "${user[@]}" --net \
    bash -c "$STAMPS_SCRIPT" - "$work/copy/bin" "$dir" >"$dir/out" 2>&1) &
  sessions+=("$!")
  wait "$!" || fail "the stamps' capture as $mode failed: $(cat "$dir/out" "$dir/stamps.err" 2>/dev/null)"
  ladder=$dir/stamps.ladder
  (($(grep -c -- "---SYN--" "$ladder") == 2)) || fail "stamps as $mode: not two SYNs in $(cat "$ladder")"
  ladder_times_ok "$ladder" "stamps as $mode"
  # The second connection's SYN, 0.2 s after the first's.
  awk '/---SYN--/ { n++ } /---SYN--/ && n == 2 { exit !($1 >= 0.15) }' "$ladder" ||
    fail "stamps as $mode: frames queued while lab-ladder waited are drawn when read, not when they passed:
$(sed 's/^/    | /' "$ladder")"
  echo "--- the capture's stamps, as $mode: checked"
}

# browser_scene OUTPUT MODE: Chromium on alice fetched http://www/; its
# request (User-Agent included) beside Alice's, its packets with their data,
# the page it got the same as stage4-http's. Without Chromium the scene
# says what to install, and this part is skipped (failed under CI=true).
browser_scene() {
  local browser=$work/$2.browser
  scene "$1" "=== 4. " "$browser"
  if ! command -v chromium >/dev/null; then
    expect_line "$browser" "(No browser scene: Chromium is not installed: sudo apt-get install chromium)" \
      "the browser scene says what to install, as $2"
    if [[ ${CI:-} == true ]]; then
      fail "the browser scene, as $2: Chromium must be installed in CI (apt-get install chromium)"
    else
      echo "SKIP: the browser scene, as $2: Chromium is not installed (sudo apt-get install chromium)"
    fi
    return 0
  fi
  expect_line "$browser" "    | (exit status 0)" "chromium's exit status 0, as $2"
  expect_line "$browser" "    | <h1>Hello from www</h1>" "the page in the browser's DOM, as $2"
  expect_line "$browser" "    the browser:      GET / HTTP/1.1" "the browser's request line, as $2"
  expect_line "$browser" "                      User-Agent: Mozilla/5.0" "the browser's User-Agent, as $2"
  expect_line "$browser" "| User-Agent: Mozilla/5.0" "the User-Agent on the ladder, as $2"
  expect_line "$browser" '---PSH-ACK' "the browser's request on the ladder, as $2"
  expect_line "$browser" "scene 2, line for line: diff finds no difference." \
    "the page the browser got is stage4-http's, as $2"
  echo "--- the browser scene, as $2: checked"
}

# same WHAT BEFORE AFTER MODE: this machine's WHAT is as before the lab.
same() {
  [[ $2 == "$3" ]] && return 0
  fail "$1 differs after the lab as $4:"
  diff <(echo "$2") <(echo "$3") | sed 's/^/    | /'
}

# play MODE COMMAND...: runs the lab with COMMAND (a way to become MODE's
# user), checks its output, and that it left nothing behind.
play() {
  local mode=$1
  shift
  local out=$work/$mode.out links_before addresses_before routes_before netns_before status=0
  links_before=$(machine_links)
  addresses_before=$(machine_addresses)
  routes_before=$(machine_routes)
  netns_before=$(machine_netns)

  echo "--- make lab as $mode"
  # env -i-like: no MAKEFLAGS from ctest's make; LAB_BIN: CMake's programs.
  # setsid: the lab's processes in a session of their own, $! (see ours).
  local keep=$work/runs/keep.$mode ladder
  (cd "$work/copy" && exec setsid "$@" env -u MAKEFLAGS -u MAKELEVEL TMPDIR="$work/runs" \
    LAB_BIN=bin LAB_KEEP="$keep" timeout -k 5 100 bash lab/run.sh >"$out" 2>&1) &
  sessions+=("$!")
  wait "$!" || status=$?
  if ((status == 2)); then
    skip "the lab cannot run as $mode here: $(grep -v '^make' "$out" | tr '\n' ' ')"
  fi
  ((status == 0)) || { fail "make lab as $mode exited with status $status:"; sed 's/^/    | /' "$out"; }

  # The hosts and their addresses, in the ladders.
  expect_line "$out" "alice 192.0.2.10" "Alice's address"
  expect_line "$out" "bob 192.0.2.20" "Bob's address"
  expect_line "$out" "www 198.51.100.80" "the web server's address"
  expect_line "$out" "connection from 192.0.2.10 port" "Bob sees Alice's address"
  # Scene 1: the handshake, the two lines, the end.
  expect_line "$out" "---SYN------" "Alice's SYN"
  expect_line "$out" "<--SYN-ACK---" "Bob's SYN-ACK"
  expect_line "$out" "---ACK------" "Alice's ACK"
  expect_line "$out" "\"Hello\\n\"" "Bob's Hello on the wire"
  expect_line "$out" "\"World\\n\"" "Alice's World on the wire"
  expect_line "$out" "<--FIN-ACK---" "Bob's FIN"
  expect_line "$out" "---FIN-ACK---" "Alice's FIN"
  # The lab is IPv4 only, and what its listeners print says so.
  expect_line "$out" "listening on 0.0.0.0 port 3000" "Bob's IPv4 listener"
  if grep -q "listening on ::" "$out"; then
    fail "the IPv4-only lab prints an IPv6 listener: $(grep "listening on ::" "$out" | head -n 1)"
  fi
  # Alice's hosts file: one name per address, no name twice.
  local twice
  twice=$(awk '/^alice\$ cat \/etc\/hosts/ { inside = 1; next } inside && !/^    \|/ { exit }
    inside { for (i = 3; i <= NF; i++) print $i }' "$out" | sort | uniq -d | tr '\n' ' ')
  [[ -z $twice ]] || fail "names listed twice in the lab's hosts file: $twice"
  expect_line "$out" "198.51.100.80	www" "www in alice's hosts file"
  # Scene 2: ping finds www's address; then the page, by hand and from a URL.
  local ping=$work/$mode.ping typo=$work/$mode.typo slow=$work/$mode.slow
  scene "$out" "=== 2. " "$ping"
  expect_line "$ping" "PING www (198.51.100.80)" "ping's answer: www's address"
  expect_line "$ping" "---ICMP echo request----" "the echo request on the ladder"
  expect_line "$ping" "<--ICMP echo reply------" "the echo reply on the ladder"
  expect_line "$out" "\"GET / HTTP/1.1\\r\\n\"" "the request typed by hand"
  expect_line "$out" "< HTTP/1.1 200 OK" "the response to the URL"
  expect_line "$out" "This page was sent by nginx on www" "the page says who sent it"
  grep -q "served by bin/stage3-duplex" "$out" && fail "nginx's page says stage3-duplex served it"
  # Scene 3: the exercise's troubleshooting, with nginx's answers.
  scene "$out" "--- 400 Bad Request:" "$typo"
  expect_line "$typo" "\"Host www\\r\\n\"" "the mistyped header on the wire"
  expect_line "$typo" "    | HTTP/1.1 400 Bad Request" "nginx's 400 on Alice's screen"
  scene "$out" "--- No answer:" "$slow"
  expect_line "$slow" "client_header_timeout 3s" "the slow scene says nginx's timeout"
  awk '/<--FIN-ACK/ && !fin { fin = NR } /---FIN-ACK/ && fin { ok = 1 } END { exit !ok }' "$slow" ||
    fail "slow: no FIN from www before Alice's own FIN in its scene ($(basename "$slow"))"
  grep -q "    | HTTP/1.1 " "$slow" && fail "slow: a response came to a request never finished"
  # Scene 3: each failure's message, and its packets, within its own scene.
  local refused=$work/$mode.refused unreachable=$work/$mode.unreachable
  local timedout=$work/$mode.timeout reset=$work/$mode.reset
  scene "$out" "--- Connection refused:" "$refused"
  expect_line "$refused" "stage3-duplex: connect to 192.0.2.20 port 3001: Connection refused" "refused"
  expect_line "$refused" "---SYN---" "the SYN refused"
  expect_line "$refused" "<--RST-ACK---" "the RST of a refusal"
  scene "$out" "--- No route to host:" "$unreachable"
  expect_line "$unreachable" "stage3-duplex: connect to 198.51.100.99 port 80: No route to host" "unreachable"
  expect_line "$unreachable" "<--ICMP host unreachable---" "the router's ICMP"
  expect_line "$unreachable" "ARP who-has 198.51.100.99" "the router's ARP requests"
  scene "$out" "--- Connection timed out:" "$timedout"
  expect_line "$timedout" "stage3-duplex: connect to 203.0.113.7 port 80: Connection timed out" "timeout"
  (($(grep -cF -- "---SYN---" "$timedout") >= 2)) ||
    fail "timeout: fewer than two SYNs in its scene ($(basename "$timedout"))"
  ! grep -qF -- "SYN-ACK" "$timedout" || fail "timeout: a SYN-ACK in its scene ($(basename "$timedout"))"
  scene "$out" "--- Connection reset by peer:" "$reset"
  expect_line "$reset" "stage3-duplex: read from network: Connection reset by peer" "reset"
  # Alice's unread line on the wire, then Bob's RST.
  awk '/"Hello\?\\n"/ && !data { data = NR } /<--RST/ && data { rst = 1 } END { exit !rst }' "$reset" ||
    fail "reset: no \"Hello?\" on the wire followed by an RST in its scene ($(basename "$reset"))"
  browser_scene "$out" "$mode"
  # IPv4 only: the hosts' addresses, as scene 0 prints them.
  grep -E "::1/128|fe80::[0-9a-f:]*/64" "$out" && fail "the lab's hosts have IPv6 addresses, as $mode"
  expect_line "$out" "Left behind: nothing" "the lab's own check"
  # Every ladder (kept by LAB_KEEP, as drawn in the output): its times.
  for ladder in "$keep"/*.ladder; do
    [[ -f $ladder ]] || { fail "no ladders kept in $keep as $mode"; break; }
    ladder_times_ok "$ladder" "make lab as $mode"
  done

  shells "$mode" "$@"
  two_labs "$mode" "$@"
  no_nginx "$mode" "$@"

  # Nothing left behind: the machine's links, addresses, routes and named
  # namespaces, and no process this test started.
  same "ip link" "$links_before" "$(machine_links)" "$mode"
  same "ip addr" "$addresses_before" "$(machine_addresses)" "$mode"
  same "ip route, ip -6 route" "$routes_before" "$(machine_routes)" "$mode"
  same "ip netns list" "$netns_before" "$(machine_netns)" "$mode"
  # (The kernel ends a PID namespace's processes a moment after its first.)
  local stray tries end=$((SECONDS + 5))
  for ((tries = 40; tries > 0 && SECONDS < end; tries--)); do
    stray=$(ours)
    [[ -z $stray ]] && break
    sleep 0.05
  done
  [[ -z $stray ]] || fail "processes of the lab still run after the lab as $mode:
$stray"
  ls -d "$work"/runs/netcat-lab* >/dev/null 2>&1 && fail "the lab's folder is still there after $mode"
  echo "--- as $mode: checked"
}

command -v ip >/dev/null || skip "ip not found: install iproute2"
command -v script >/dev/null || skip "script not found (the shells' pseudo-terminals): install bsdutils"
if ((EUID == 0)); then
  stamps root
  play root
  # nobody: an ordinary user, with no home and no groups, like a student
  # without sudo; setpriv changes user without a login or a password.
  if command -v setpriv >/dev/null; then
    stamps nobody setpriv --reuid=65534 --regid=65534 --clear-groups
    play nobody setpriv --reuid=65534 --regid=65534 --clear-groups
  else
    skip "setpriv not found (util-linux): cannot run the lab as an ordinary user"
  fi
else
  stamps "$(id -un)"
  play "$(id -un)"
fi

if ((failures > 0)); then
  echo "lab_test: $failures problem(s)"
  exit 1
fi
echo "lab_test: the lab's scenes, messages and packets are as expected, and nothing was left"
