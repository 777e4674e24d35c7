#!/usr/bin/env bash
# lab_test.sh: make lab's scenes, run for real, as root and as an ordinary user.
#
# Purpose: the lab (lab/run.sh) shows students real addresses, real packets
# and real failures; this test runs it and checks what it shows: the hosts'
# addresses in the ladder, the handshake (SYN, SYN-ACK, ACK) and the end
# (FIN), each failure's exact message beside its packets (RST, ICMP host
# unreachable, a SYN with no answer, a reset), the web page, and that
# nothing is left behind: this machine's interfaces (ip link), named
# namespaces (ip netns list), and no process of the lab still running.
#
# Run as root (as in CI), it plays the lab twice: as root, then as the user
# nobody (setpriv), which is the unprivileged path through a user namespace
# that students without sudo take. Run as an ordinary user, it plays the
# unprivileged path only. Where the lab cannot run (no namespaces, no ip)
# the test is skipped with the lab's own reason (exit 77), except under
# CI=true, where that is a failure.
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

# skip REASON: exit 77 (ctest: skipped), or fail under CI=true.
skip() {
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

# The machine's network, and the network namespaces its processes are in.
machine_links() { ip -o link show | awk -F': ' '{ print $2 }' | sort; }
machine_netns() { ip netns list 2>/dev/null | sort; }
process_netns() {
  local link
  for link in /proc/[0-9]*/ns/net; do readlink "$link" 2>/dev/null; done | sort -u
}

# expect_line FILE TEXT WHAT: a line of FILE contains TEXT (fixed string).
expect_line() {
  grep -qF -- "$2" "$1" || fail "$3: no line with \"$2\" in the lab's output ($(basename "$1"))"
}

# wait_for FILE TEXT: until FILE has a line containing TEXT (10 s at most).
wait_for() {
  local tries
  for ((tries = 200; tries > 0; tries--)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# shells MODE COMMAND...: make lab-shell HOST=bob, typed to through a FIFO;
# then, as from a second terminal, make lab-shell HOST=alice joins that lab
# and connects to bob by name.
shells() {
  local mode=$1
  shift
  local keys=$work/runs/$mode.keys bob=$work/$mode.bob alice=$work/$mode.alice shell
  mkfifo -m 666 "$keys"
  # The FIFO stays open (descriptor 7) until the test types exit. The
  # subshell becomes timeout (exec), so that $! can stop the lab: TERM to
  # timeout, to lab/run.sh, which ends its lab.
  (cd "$work/copy" && exec 7<>"$keys" && exec "$@" env TMPDIR="$work/runs" LAB_BIN=bin \
    timeout -k 15 60 bash lab/run.sh --shell bob <"$keys" >"$bob" 2>&1) &
  shell=$!
  wait_for "$bob" "You are on bob" || fail "make lab-shell HOST=bob as $mode: no shell on bob"
  echo 'stage1-listen -v -l 3000' >"$keys"
  wait_for "$bob" "listening on" || fail "stage1-listen did not start in bob's shell as $mode"
  (cd "$work/copy" && echo 'hostname; echo Hello | stage2-connect -v bob 3000' |
    "$@" env TMPDIR="$work/runs" LAB_BIN=bin timeout -k 5 30 bash lab/run.sh --shell alice) >"$alice" 2>&1
  expect_line "$alice" "joining the running lab" "the second shell joins the first one's lab"
  expect_line "$alice" "connected to 192.0.2.20 port 3000" "alice connects to bob from a joined shell"
  wait_for "$bob" "Hello" || fail "Bob's shell did not print Alice's Hello, as $mode"
  echo exit >"$keys"
  local tries
  for ((tries = 200; tries > 0; tries--)); do
    kill -0 "$shell" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$shell" 2>/dev/null; then
    fail "bob's shell still runs after exit, as $mode"
    kill -TERM "$shell"
  fi
  wait "$shell" 2>/dev/null
  echo "--- make lab-shell, two terminals, as $mode: checked"
}

# play MODE COMMAND...: runs the lab with COMMAND (a way to become MODE's
# user), checks its output, and that it left nothing behind.
play() {
  local mode=$1
  shift
  local out=$work/$mode.out links_before netns_before processes_before status=0
  links_before=$(machine_links)
  netns_before=$(machine_netns)
  processes_before=$(process_netns)

  echo "--- make lab as $mode"
  # env -i-like: no MAKEFLAGS from ctest's make; LAB_BIN: CMake's programs.
  (cd "$work/copy" && "$@" env -u MAKEFLAGS -u MAKELEVEL TMPDIR="$work/runs" LAB_BIN=bin \
    timeout -k 5 120 bash lab/run.sh) >"$out" 2>&1 || status=$?
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
  # Scene 3: each failure's message, and its packets.
  expect_line "$out" "stage3-duplex: connect to 192.0.2.20 port 3001: Connection refused" "refused"
  expect_line "$out" "<--RST-ACK---" "the RST of a refusal"
  expect_line "$out" "stage3-duplex: connect to 198.51.100.99 port 80: No route to host" "unreachable"
  expect_line "$out" "<--ICMP host unreachable---" "the router's ICMP"
  expect_line "$out" "ARP who-has 198.51.100.99" "the router's ARP requests"
  expect_line "$out" "stage3-duplex: connect to 203.0.113.7 port 80: Connection timed out" "timeout"
  expect_line "$out" "stage3-duplex: read from network: Connection reset by peer" "reset"
  expect_line "$out" "Left behind: nothing" "the lab's own check"

  shells "$mode" "$@"

  # Nothing left behind: the machine's links and named namespaces, and no
  # process in a network namespace that was not there before.
  [[ $(machine_links) == "$links_before" ]] || fail "ip link differs after the lab as $mode"
  [[ $(machine_netns) == "$netns_before" ]] || fail "ip netns list differs after the lab as $mode"
  # (The kernel ends a PID namespace's processes a moment after its first.)
  local stray tries
  for ((tries = 40; tries > 0; tries--)); do
    stray=$(comm -13 <(echo "$processes_before") <(process_netns))
    [[ -z $stray ]] && break
    sleep 0.05
  done
  [[ -z $stray ]] || fail "processes still run in the lab's namespaces after the lab as $mode: $stray"
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
