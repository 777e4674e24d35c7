#!/usr/bin/env bash
# lab_test.sh: make lab's scenes, run for real, as root and as an ordinary user.
#
# Purpose: the lab (lab/run.sh) shows students real addresses, real packets
# and real failures; this test runs it and checks what it shows: the hosts'
# addresses in the ladder, the handshake (SYN, SYN-ACK, ACK) and the end
# (FIN), each failure's exact message beside its packets (RST, ICMP host
# unreachable, a SYN with no answer, a reset), each checked within its own
# scene, the web page, and that nothing is left behind: this machine's
# interfaces, addresses and routes (ip link, ip addr, ip route, ip -6 route),
# named namespaces (ip netns list), and no process this test started still
# running.
#
# Run as root (as in CI), it plays the lab twice: as root, then as the user
# nobody (setpriv), which is the unprivileged path through a user namespace
# that students without sudo take. Run as an ordinary user, it plays the
# unprivileged path only. Where the lab cannot run (no namespaces, no ip)
# the test is skipped with the lab's own reason (exit 77), except under
# CI=true, where that is a failure; and so is a skip after a failure.
#
# Time: every wait is bounded, and the bounds add up to less than ctest's
# TIMEOUT for lab_test (tests/CMakeLists.txt, 360 s), so ctest never has to
# kill the test (SIGKILL: no EXIT trap, the work folder left). Per mode:
# make lab 60+5 s; the two shells 11+11+(20+5)+11+11+5 = 74 s (a wait of
# 10 s, counted in whole seconds, may last 11); the stray check 6 s: 145 s;
# two modes 290 s. A normal run takes some 20 s in all.
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
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/copy/lab" "$work/copy/demo" "$work/copy/bin" "$work/runs"
cp "$src/lab/run.sh" "$work/copy/lab/"
cp "$src/demo/response.http" "$work/copy/demo/"
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

# type_to PID LINE: types LINE into bob's shell (descriptor 8), if its lab
# (PID) still runs.
type_to() {
  kill -0 "$1" 2>/dev/null || { fail "bob's shell ended before \"$2\" was typed"; return; }
  echo "$2" >&8
}

# shells MODE COMMAND...: make lab-shell HOST=bob, typed to through a FIFO;
# then, as from a second terminal, make lab-shell HOST=alice joins that lab
# and connects to bob by name.
shells() {
  local mode=$1
  shift
  local keys=$work/runs/$mode.keys bob=$work/$mode.bob alice=$work/$mode.alice shell
  mkfifo -m 666 "$keys"
  # The test holds the FIFO open for reading and writing (descriptor 8)
  # until the end: bob's shell sees no end of input between two lines, and
  # a line typed after that shell is gone waits in the pipe instead of
  # blocking the test (no reader). If the test dies, bob's shell reads the
  # end of its input and leaves, and its lab ends with it. The subshell
  # becomes setsid, then timeout (exec): $! is the session of the lab, and
  # TERM to it goes to timeout, to lab/run.sh, which ends its lab.
  exec 8<>"$keys"
  (cd "$work/copy" && exec 8>&- && exec setsid "$@" env TMPDIR="$work/runs" LAB_BIN=bin \
    timeout -k 5 30 bash lab/run.sh --shell bob <"$keys" >"$bob" 2>&1) &
  shell=$!
  sessions+=("$shell")
  wait_for "$bob" "You are on bob" || fail "make lab-shell HOST=bob as $mode: no shell on bob"
  type_to "$shell" 'stage1-listen -v -l 3000'
  wait_for "$bob" "listening on" || fail "stage1-listen did not start in bob's shell as $mode"
  (cd "$work/copy" && exec 8>&- && exec setsid "$@" env TMPDIR="$work/runs" LAB_BIN=bin \
    timeout -k 5 20 bash lab/run.sh --shell alice <<<'hostname; echo Hello | stage2-connect -v bob 3000' \
    >"$alice" 2>&1) &
  sessions+=("$!")
  wait "$!"
  expect_line "$alice" "joining the running lab" "the second shell joins the first one's lab"
  expect_line "$alice" "connected to 192.0.2.20 port 3000" "alice connects to bob from a joined shell"
  wait_for "$bob" "Hello" || fail "Bob's shell did not print Alice's Hello, as $mode"
  type_to "$shell" exit
  local tries end=$((SECONDS + 10))
  for ((tries = 200; tries > 0 && SECONDS < end; tries--)); do
    kill -0 "$shell" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$shell" 2>/dev/null; then
    fail "bob's shell still runs after exit, as $mode"
    kill -TERM "$shell"
  fi
  wait "$shell" 2>/dev/null
  exec 8>&-
  echo "--- make lab-shell, two terminals, as $mode: checked"
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
  (cd "$work/copy" && exec setsid "$@" env -u MAKEFLAGS -u MAKELEVEL TMPDIR="$work/runs" \
    LAB_BIN=bin timeout -k 5 60 bash lab/run.sh >"$out" 2>&1) &
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
  # Scene 2: the page, by hand and from a URL.
  expect_line "$out" "\"GET / HTTP/1.1\\r\\n\"" "the request typed by hand"
  expect_line "$out" "< HTTP/1.1 200 OK" "the response to the URL"
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
  expect_line "$out" "Left behind: nothing" "the lab's own check"

  shells "$mode" "$@"

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
  ls -d "$work"/runs/netcat-lab.* >/dev/null 2>&1 && fail "the lab's folder is still there after $mode"
  echo "--- as $mode: checked"
}

command -v ip >/dev/null || skip "ip not found: install iproute2"
if ((EUID == 0)); then
  play root
  # nobody: an ordinary user, with no home and no groups, like a student
  # without sudo; setpriv changes user without a login or a password.
  if command -v setpriv >/dev/null; then
    play nobody setpriv --reuid=65534 --regid=65534 --clear-groups
  else
    skip "setpriv not found (util-linux): cannot run the lab as an ordinary user"
  fi
else
  play "$(id -un)"
fi

if ((failures > 0)); then
  echo "lab_test: $failures problem(s)"
  exit 1
fi
echo "lab_test: the lab's scenes, messages and packets are as expected, and nothing was left"
