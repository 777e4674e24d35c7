#!/usr/bin/env bash
# lab/run.sh: the exercise between separate hosts, on one machine, with the
# packets on screen, and its failures caused for real.
#
# Purpose: the exercise has Alice and Bob on two servers, and a web server
# across the internet. Here each is a host of its own: a Linux network
# namespace with its own interfaces, addresses, routes and hosts file,
# joined to the others by virtual cables (veth pairs):
#
#   alice 192.0.2.10 --+
#                      +-- [lan0 192.0.2.1] router [198.51.100.1] --- www 198.51.100.80
#   bob   192.0.2.20 --+      (a bridge: the LAN's switch)
#
# Then it plays the exercise with the stage programs (bin/stage3-duplex,
# bin/stage4-http; ping; nginx as the web server when installed), records
# what Alice's network card sees (bin/lab-ladder), and prints each
# program's screen beside the ladder of its packets: Alice and Bob talk;
# Alice finds www's address with ping and fetches its page; the exercise's
# troubleshooting (a mistyped request, 400; one typed too slowly, closed by
# nginx); then each failure, caused for real: connection refused, host
# unreachable, timeout, reset.
#
# One code path, as root and as an ordinary user: the whole lab lives in
# namespaces of its own, made with unshare (with a user namespace when not
# root, where unprivileged user namespaces are allowed):
#   - a network namespace for the lab itself: the veth cables are made there,
#     never among the machine's own interfaces;
#   - a PID namespace, this script being its first process: when it ends,
#     however it ends, the kernel ends every process of the lab, and with
#     them the hosts' namespaces, cables and mounts; nothing can be left;
#   - per host, a network, mount and UTS namespace held open by a sleeping
#     process; commands run there with nsenter --target PID. The mount
#     namespace carries the host's own /etc/hosts (a bind mount), the UTS
#     namespace its hostname.
# tcpdump refuses to run in a user namespace (it drops privileges, and
# setgroups is denied there); bin/lab-ladder, a packet socket of the lab's
# own, works in both modes, and writes pcap files that tcpdump -r reads.
#
# The shells' lab (--shell) runs in the background, in a session of its
# own, apart from every terminal: each shell joins it the same way (nsenter
# into its PID namespace, then into the host's), and it lasts while any
# shell holds a share of its lock (see find_lab), then removes itself.
#
# Usage: lab/run.sh                 play the scenes        (make lab)
#        lab/run.sh --shell HOST    a shell on HOST: alice, bob, router or www
#                                   (make lab-shell HOST=alice), in the
#                                   running lab if there is one, else in a
#                                   new one; the lab ends with its last shell
#        lab/run.sh --shell HOST --lab NAME   the same in the lab called NAME
#                                   (make lab-shell LAB=NAME HOST=bob): labs
#                                   of other names run beside it, apart
# Environment: LAB_BIN=DIR   the programs (default bin/, built with make)
#              LAB_KEEP=DIR  keep the captures (.pcap) and screens in DIR
#              LAB_NGINX=none  no nginx on www, even if installed: in the
#                            scenes and shells stage3-duplex sends its page
#                            (and the nginx scenes are left out)
# Exit status: 0 done (with --shell: whatever the shell's last status), 1 a
# scene went wrong, 2 the lab cannot run here (the message says why and
# what to do). Internal: --keeper and --inside, the shells' lab and the
# lab's first process.
#
# See also: docs/lab.md, lab/ladder.cpp, demo/run.sh; ip(8), ip-netns(8),
# unshare(1), nsenter(1), namespaces(7), veth(4), packet(7).

# shellcheck disable=SC2154  # pid_NAME, capture_NAME: set by printf -v in start()
set -euo pipefail
cd "$(dirname "$0")/.."
readonly ROOT=$PWD
# ip lives in /usr/sbin on some systems, outside an ordinary user's PATH.
export PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C

readonly PAUSE=0.3  # seconds between two things a person does
# nginx's client_header_timeout, in seconds: in the scenes, short enough to
# watch; in the shells, long enough to type a request by hand.
readonly HEADER_TIMEOUT=3 SHELL_HEADER_TIMEOUT=20
readonly HOSTS=(alice bob router www)
# The browser scene's bound on Chromium, in seconds (it needs a few).
readonly BROWSER_TIMEOUT=30

LAB_UNSHARE=(--net --mount --uts --pid --fork --kill-child --mount-proc)
((EUID != 0)) && LAB_UNSHARE=(--user --map-root-user "${LAB_UNSHARE[@]}")

cannot() {
  echo "lab: cannot run here: $*" >&2
  exit 2
}

fail() {
  echo "lab: FAILED: $*" >&2
  exit 1
}

# ===========================================================================
# Outside: check the machine, build, and enter the lab's own namespaces.

# Why unshare with a user namespace fails, in words, with what to do.
user_namespaces_problem() {
  local rule name bad good
  # sysctl, the value that forbids them, the value that allows them
  for rule in kernel.apparmor_restrict_unprivileged_userns:1:0 \
    kernel.unprivileged_userns_clone:0:1 user.max_user_namespaces:0:10000; do
    IFS=: read -r name bad good <<<"$rule"
    if [[ $(cat "/proc/sys/${name//.//}" 2>/dev/null) == "$bad" ]]; then
      echo "unprivileged user namespaces are disabled here ($name = $bad)."
      echo "Run the lab as root (sudo make lab), or allow them: sudo sysctl -w $name=$good"
      return
    fi
  done
  echo "unshare --user --map-root-user fails: $(unshare --user --map-root-user true 2>&1 | head -n 1)."
  echo "Run the lab as root (sudo make lab)."
}

preflight() {
  [[ $(uname -s) == Linux ]] ||
    cannot "the lab needs Linux network namespaces; this is $(uname -s). Use a Linux machine or VM."
  command -v ip >/dev/null || cannot "ip not found: install iproute2 (sudo apt-get install iproute2)"
  local tool
  for tool in unshare nsenter mount; do
    command -v "$tool" >/dev/null ||
      cannot "$tool not found: install util-linux (sudo apt-get install util-linux)"
  done
  if [[ -z ${LAB_BIN:-} ]]; then
    command -v "${CXX:-c++}" >/dev/null ||
      cannot "${CXX:-c++} not found: install a compiler (sudo apt-get install g++ make)"
    command -v make >/dev/null || cannot "make not found: sudo apt-get install make"
  fi
  if ((EUID != 0)) && ! unshare --user --map-root-user true 2>/dev/null; then
    cannot "$(user_namespaces_problem)"
  fi
  unshare "${LAB_UNSHARE[@]}" true 2>/dev/null ||
    cannot "unshare ${LAB_UNSHARE[*]} fails: $(unshare "${LAB_UNSHARE[@]}" true 2>&1 | head -n 1)"
}

# The programs: built with make (its echoed compiler commands), unless
# LAB_BIN names a folder that has them (the tests use CMake's).
build() {
  local programs=(bin/stage1-listen bin/stage2-connect bin/stage3-duplex bin/stage4-http bin/lab-ladder)
  if [[ -n ${LAB_BIN:-} ]]; then
    BIN=$(cd "$LAB_BIN" && pwd)
  else
    local output
    output=$(make --no-print-directory "${programs[@]}" 2>&1) ||
      fail "the programs did not build:"$'\n'"$output"
    grep -v -e "is up to date" -e "^$" <<<"$output" || true
    # Stage 5 too, for the shell, where it exists and builds.
    if [[ -n $SHELL_HOST && -f stage5-chat/main.cpp ]]; then
      output=$(make --no-print-directory bin/stage5-chat 2>&1) ||
        echo "lab: stage5-chat did not build: going on without it"
      grep -v -e "is up to date" -e "^$" <<<"$output" || true
    fi
    BIN=$ROOT/bin
  fi
  local program
  for program in "${programs[@]}"; do
    [[ -x $BIN/${program#bin/} ]] || fail "$BIN/${program#bin/} is missing"
  done
}

# What the machine's own network looks like: the lab must leave it as it was.
machine_network() {
  ip -o link show | awk -F': ' '{ print $2 }' | sort
  ip netns list 2>/dev/null | sort
}

# A lab for shells (make lab-shell) lives in the background, apart from any
# terminal, while any shell is in it: each shell's make holds a shared lock
# (flock) on the lab's lab.lock while its shell runs; the lab waits for an
# exclusive lock, which it gets once the last holder has gone, however it
# went (exit, Ctrl-D, a closed terminal, kill -9: the kernel drops the lock
# with its last descriptor). Then it removes itself.

# lab_init_of DIR: the PID (seen from here) of the first process of the lab
# in DIR, into `lab_init`.
lab_init_of() {
  local status pid
  for status in /proc/[0-9]*/status; do
    pid=${status#/proc/}
    pid=${pid%/status}
    # Its command line names the folder; in its own PID namespace it is 1.
    # (2>/dev/null first: a process gone meanwhile fails the redirection.)
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "--inside $1 " || continue
    [[ $(awk '/^NSpid:/ { print $NF }' "$status" 2>/dev/null) == 1 ]] || continue
    lab_init=$pid
    return 0
  done
  return 1
}

# lab_prefix: where the shells' labs of this name live, but for mktemp's
# suffix: netcat-lab.XXXXXX is the lab without a name, netcat-lab-NAME.XXXXXX
# the lab NAME; so each name finds its own labs only.
lab_prefix() {
  echo "${TMPDIR:-/tmp}/netcat-lab${LAB_NAME:+-$LAB_NAME}"
}

# find_lab: a running lab of ours, ready for shells, newest first, that this
# shell could join: its folder in `lab_dir`, its first process in
# `lab_init`, and a share of its lock held on descriptor 9.
find_lab() {
  local dir
  # mktemp's names have no blanks.
  # shellcheck disable=SC2045
  for dir in $(ls -dt "$(lab_prefix)".* 2>/dev/null); do
    [[ -O $dir && -f $dir/ready && -f $dir/lab.lock ]] || continue
    exec 9<"$dir/lab.lock"
    # Not granted: the lab is ending (its last shell has just left).
    if flock --shared --nonblock 9 && lab_init_of "$dir"; then
      lab_dir=$dir
      return 0
    fi
    exec 9<&-
  done
  return 1
}

# start_lab: a new lab for shells, in the background, its own session (no
# terminal: a closed terminal or Ctrl-C ends a shell, never the lab), with
# this shell's share of its lock taken first, so that it cannot end before
# this shell is in it.
start_lab() {
  lab_dir=$(mktemp -d "$(lab_prefix).XXXXXX")
  : >"$lab_dir/lab.lock"
  exec 9<"$lab_dir/lab.lock"
  flock --shared 9
  # Its messages, beside its folder, which goes when it ends: read if it
  # fails to start, else removed (it writes on, into the removed file).
  local log=$lab_dir.log
  setsid bash "$ROOT/lab/run.sh" --keeper "$lab_dir" "$BIN" </dev/null >"$log" 2>&1 9<&- &
  local keeper=$! tries
  for ((tries = 600; tries > 0; tries--)); do  # 30 s at most
    [[ -f $lab_dir/ready ]] && lab_init_of "$lab_dir" && { rm -f "$log"; return 0; }
    kill -0 "$keeper" 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM "$keeper" 2>/dev/null || true
  local why
  why=$(cat "$log" 2>/dev/null)
  rm -f "$log"
  fail "the lab did not start: ${why:-(no message)}"
}

# keeper WORK BIN: the lab for shells, run in the background by start_lab;
# removes the lab's folder when the lab ends, or ends the lab if killed.
keeper() {
  keeper_work=$1  # global: the trap runs after this function has returned
  trap 'outside_exit "$keeper_work"' EXIT
  unshare "${LAB_UNSHARE[@]}" -- bash "$ROOT/lab/run.sh" --inside "$keeper_work" "$2" shells || true
}

# The hosts that have a shell in the lab now, from the shells' own notes.
shells_in_lab() {
  local note pid hosts=()
  for note in "$lab_dir"/shells/*; do
    [[ -f $note ]] || continue
    pid=${note##*/}
    kill -0 "$pid" 2>/dev/null && hosts+=("$(cat "$note")")
  done
  echo "${hosts[*]-}"
}

# shell_on HOST: a shell on HOST of the lab in lab_dir, on this terminal.
# Its exit status is the shell's business (`exit` after a Ctrl-C says 130):
# leaving the lab is no failure, so this says 0.
shell_on() {
  local host=$1 host_pid user=() others named=${LAB_NAME:+ $LAB_NAME}
  host_pid=$(awk -v host="$host" '$1 == host { print $2 }' "$lab_dir/hosts.pids")
  [[ -n $host_pid ]] || fail "no host $host in the lab"
  others=$(shells_in_lab)
  if [[ -n $joined && -n $others ]]; then
    echo "lab: joined the running lab$named ($lab_dir), where shells are on: $others."
  elif [[ -n $joined ]]; then
    echo "lab: joined the running lab$named ($lab_dir)."
  else
    echo "lab: started a lab$named ($lab_dir)."
  fi
  cat "$lab_dir/hosts.text"
  echo "lab: another terminal joins it with: make lab-shell ${LAB_NAME:+LAB=$LAB_NAME }HOST=$([[ $host == alice ]] && echo bob || echo alice)"
  echo "lab: it ends, everything removed, when its last shell leaves (exit or Ctrl-D)."
  mkdir -p "$lab_dir/shells"
  echo "$host" >"$lab_dir/shells/$$"
  # --preserve-credentials: no setgroups(), which a user namespace denies;
  # our user is root in the lab's user namespace anyway.
  ((EUID != 0)) && user=(--user --preserve-credentials)
  nsenter --target "$lab_init" "${user[@]}" --pid --mount -- \
    nsenter --target "$host_pid" --net --mount --uts -- \
    env PATH="$(cat "$lab_dir/bin.path"):$PATH" bash --rcfile "$lab_dir/bashrc" -i 9<&- || true
  rm -f "$lab_dir/shells/$$"
  exit 0
}

# outside_exit WORK: if the lab still runs (this script was killed, not
# the lab), asks the lab's first process to clean up, waits for it (2 s at
# most, then ends it), then removes its folder.
outside_exit() {
  local children=() lab=() pid tries
  # (The file has no newline at its end: read says 1, and has read it.)
  read -ra children </proc/$$/task/$$/children 2>/dev/null || true
  for pid in ${children[@]+"${children[@]}"}; do
    read -ra lab <"/proc/$pid/task/$pid/children" 2>/dev/null || true
    kill -TERM ${lab[@]+"${lab[@]}"} 2>/dev/null || true
  done
  for ((tries = 40; tries > 0; tries--)); do
    children=()
    read -ra children </proc/$$/task/$$/children 2>/dev/null || true
    ((${#children[@]} > 0)) || break
    sleep 0.05
  done
  # Still there (a lab shell does not end on TERM): SIGKILL to unshare,
  # whose --kill-child passes it on to the lab's first process, and the
  # kernel ends the rest of the lab's PID namespace with it.
  ((${#children[@]} == 0)) || kill -KILL "${children[@]}" 2>/dev/null || true
  rm -rf "$1"
}

outside() {
  SHELL_HOST="" LAB_NAME=""
  if [[ ${1:-} == --shell ]]; then
    SHELL_HOST=${2:-}
    [[ " ${HOSTS[*]} " == *" $SHELL_HOST "* ]] ||
      { echo "usage: lab/run.sh --shell HOST [--lab NAME]   (HOST: ${HOSTS[*]})" >&2; exit 2; }
    if (($# > 2)); then
      [[ $# -eq 4 && $3 == --lab ]] ||
        { echo "usage: lab/run.sh --shell HOST [--lab NAME]" >&2; exit 2; }
      LAB_NAME=$4  # empty: the lab without a name
      [[ -z $LAB_NAME || $LAB_NAME =~ ^[A-Za-z0-9_-]{1,20}$ ]] ||
        { echo "lab: LAB=$LAB_NAME: a lab's name is 1 to 20 letters, digits, - or _" >&2; exit 2; }
    fi
  elif [[ $# -gt 0 ]]; then
    echo "usage: lab/run.sh [--shell HOST [--lab NAME]]" >&2
    exit 2
  fi
  preflight
  if [[ -n $SHELL_HOST ]]; then
    joined=yes
    if ! find_lab; then
      joined=""
      build
      start_lab
    fi
    shell_on "$SHELL_HOST"
  fi
  build
  local before after work status=0
  before=$(machine_network)
  work=$(mktemp -d "${TMPDIR:-/tmp}/netcat-lab.XXXXXX")
  # The lab's first process cleans up after itself; its folder goes when
  # this script ends, even when it is the one killed (kill, a closed terminal).
  trap 'outside_exit "$work"' EXIT
  unshare "${LAB_UNSHARE[@]}" -- bash "$ROOT/lab/run.sh" --inside "$work" "$BIN" scenes ||
    status=$?
  after=$(machine_network)
  echo
  if [[ $before == "$after" ]]; then
    echo "Left behind: nothing. This machine's interfaces and named namespaces are as"
    echo "before (ip link, ip netns list): the lab's died with its processes."
  else
    echo "lab: this machine's interfaces or namespaces changed during the lab:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    ((status != 0)) || status=1
  fi
  exit "$status"
}

# ===========================================================================
# Inside: the lab's first process, root of its namespaces.

declare -A host_pid=()
pids=()  # every process started, stopped by PID on the way out

cleanup() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do
    kill -CONT "$pid" 2>/dev/null || true  # a stopped program must wake to die of TERM
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  # The hosts' namespaces, their cables and their /etc/hosts mounts end with
  # their last process; the PID namespace, with this one.
  rm -f "$WORK/hosts.pids"
}

# on HOST COMMAND...: runs COMMAND on HOST, in its namespaces.
on() {
  local host=$1
  shift
  nsenter --target "${host_pid[$host]}" --net --mount --uts -- "$@"
}

# enter HOST: the same command line, in the array `into`, for programs run
# in the background: nsenter becomes the program (exec), so $! is its PID,
# which a function run with & would not give.
enter() {
  into=(nsenter --target "${host_pid[$1]}" --net --mount --uts --)
}

# A host: new network, mount and UTS namespaces, kept alive by a process
# that sleeps, with its hostname, its /etc/hosts and only hosts: files for
# names (no DNS: nothing leaves the lab).
add_host() {
  local host=$1
  unshare --net --mount --uts -- sleep infinity &
  pids+=("$!")
  host_pid[$host]=$!
  # Ready once unshare has become sleep: its namespaces are made, and its
  # mounts made private (a bind mount there must not spread to the others).
  local tries
  for ((tries = 200; tries > 0; tries--)); do
    [[ $(cat "/proc/$!/comm" 2>/dev/null) == sleep ]] && break
    sleep 0.01
  done
  ((tries > 0)) || fail "host $host did not start"
  on "$host" hostname "$host"
  on "$host" mount --bind "$WORK/etc/hosts" /etc/hosts
  on "$host" mount --bind "$WORK/etc/nsswitch.conf" /etc/nsswitch.conf
  # IPv4 only: IPv6 off on every interface of the host, before any is up
  # (else lo gets ::1 and each cable an fe80:: address). Its sockets still
  # exist: a listener on :: takes IPv4 clients.
  if [[ -d /proc/sys/net/ipv6 ]]; then
    # shellcheck disable=SC2016  # $conf: the inner sh's
    on "$host" sh -c 'for conf in all default lo; do
      echo 1 >/proc/sys/net/ipv6/conf/$conf/disable_ipv6; done'
  fi
  on "$host" ip link set lo up
  echo "$host ${host_pid[$host]}" >>"$WORK/hosts.pids"
}

# cable A IF_A B IF_B: a veth pair, one end in each host.
cable() {
  ip link add "$2" netns "${host_pid[$1]}" type veth peer name "$4" netns "${host_pid[$3]}"
  on "$1" ip link set "$2" up
  on "$3" ip link set "$4" up
}

build_network() {
  mkdir -p "$WORK/etc"
  cat >"$WORK/etc/hosts" <<'EOF'
127.0.0.1	localhost
192.0.2.1	router
192.0.2.10	alice
192.0.2.20	bob
198.51.100.1	router-eth1
198.51.100.80	www
EOF
  # Names from the hosts file only; the rest as on this machine.
  sed -E 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf >"$WORK/etc/nsswitch.conf" 2>/dev/null ||
    echo "hosts: files" >"$WORK/etc/nsswitch.conf"
  grep -q '^hosts:' "$WORK/etc/nsswitch.conf" || echo "hosts: files" >>"$WORK/etc/nsswitch.conf"

  local host
  for host in "${HOSTS[@]}"; do add_host "$host"; done

  # The LAN: a bridge in the router (its built-in switch), one port per host.
  on router ip link add lan0 type bridge
  cable alice eth0 router port-alice
  cable bob eth0 router port-bob
  on router ip link set port-alice master lan0
  on router ip link set port-bob master lan0
  on router ip link set lan0 up
  on router ip addr add 192.0.2.1/24 dev lan0
  on alice ip addr add 192.0.2.10/24 dev eth0
  on bob ip addr add 192.0.2.20/24 dev eth0

  # The web server's network, on the router's other side.
  cable www eth0 router eth1
  on router ip addr add 198.51.100.1/24 dev eth1
  on www ip addr add 198.51.100.80/24 dev eth0

  # Everything not on their own network goes to the router.
  for host in alice bob; do on "$host" ip route add default via 192.0.2.1; done
  on www ip route add default via 198.51.100.1
  # The router forwards between its networks (in its namespace only), and
  # throws away whatever is for 203.0.113.0/24: the timeout scene.
  on router sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
  on router ip route add blackhole 203.0.113.0/24
  # A neighbour that does not answer ARP is given up after 3 tries 0.3 s
  # apart, not 1 s (Linux's default): the ICMP comes before Alice's kernel
  # sends its SYN again, one SYN, one answer.
  on router sh -c 'echo 300 >/proc/sys/net/ipv4/neigh/eth1/retrans_time_ms'
}

# ---- screens, keyboards, waiting (as in demo/run.sh)

# start NAME HOST SCREEN INPUT COMMAND...: COMMAND on HOST in the
# background, stdin from INPUT, stdout and stderr appended to SCREEN; its PID
# in pid_NAME. Keyboards (descriptors 3 to 6) stay with the script.
start() {
  local name=$1 host=$2 screen=$3 input=$4
  shift 4
  enter "$host"
  "${into[@]}" "$@" <"$input" >>"$screen" 2>&1 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  printf -v "pid_$name" '%s' "$!"
}

# A keyboard: a FIFO open read-write on descriptor FD (opening never blocks;
# the reader sees the end when FD is closed).
keyboard() {
  rm -f "$WORK/$1.in"
  mkfifo "$WORK/$1.in"
  eval "exec $2<>\"\$WORK/\$1.in\""
}

# wait_for FILE TEXT [SECONDS]: until a line of FILE contains TEXT.
wait_for() {
  local tries
  for ((tries = ${3:-5} * 20; tries > 0; tries--)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "waited ${3:-5} s for \"${2//$'\r'/\\r}\" in $(basename "$1")"
}

# wait_exit PID [SECONDS]: `status` becomes its exit status.
wait_exit() {
  local tries
  for ((tries = ${2:-5} * 20; tries > 0; tries--)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$1" 2>/dev/null && fail "process $1 still running after ${2:-5} s"
  status=0
  wait "$1" || status=$?
}

# type_line SCREEN FD TEXT NOTE: TEXT typed on the keyboard FD; the terminal
# would echo it, so it goes on the screen too, with a note.
type_line() {
  printf '%-34s %s\n' "$3" "<- $4" >>"$1"
  printf '%s\n' "$3" >&"$2"
  sleep "$PAUSE"
}

# say SCREEN TEXT: a line on a screen that no program printed (Ctrl-D...).
say() {
  printf '%-34s %s\n' "$2" "<- $3" >>"$1"
}

show() {
  echo
  echo "$1"
  sed 's/^/    | /; s/\r$//' "$2"
}

# ---- captures

# capture_start NAME HOST [INTERFACE]: records what HOST's INTERFACE (eth0)
# sees into NAME.pcap until capture_stop.
capture_start() {
  local name=$1 host=$2 interface=${3:-eth0}
  : >"$WORK/$name.capture"
  enter "$host"
  "${into[@]}" "$BIN/lab-ladder" -i "$interface" -w "$WORK/$name.pcap" \
    2>"$WORK/$name.capture" 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  printf -v "capture_$name" '%s' "$!"
  wait_for "$WORK/$name.capture" "capturing on"
}

# capture_stop NAME: after the last packets have had time to arrive.
capture_stop() {
  local pid_var=capture_$1
  sleep 0.2
  kill -TERM "${!pid_var}"
  wait_exit "${!pid_var}"
  ((status == 0)) || fail "lab-ladder on $1 exited with status $status: $(cat "$WORK/$1.capture")"
}

# ladder NAME TITLE [-A]: the ladder of NAME.pcap, names from the lab's
# hosts file (with -A, each segment's data under its rung).
ladder() {
  echo
  echo "$2"
  "$BIN/lab-ladder" -n "$WORK/etc/hosts" ${3:+"$3"} -r "$WORK/$1.pcap" >"$WORK/$1.ladder"
  sed 's/^/    /' "$WORK/$1.ladder"
}

# expect NAME TEXT WHAT: the ladder NAME shows TEXT, or the scene failed.
expect() {
  grep -qF -- "$2" "$WORK/$1.ladder" || fail "no $3 ($2) in the capture $1"
}

# ===========================================================================
# The scenes.

scene_network() {
  echo "=== The lab: four hosts, two networks, one router"
  echo
  echo "Each host is a network namespace of its own, with its interfaces, addresses,"
  echo "routes and /etc/hosts. The cables are veth pairs; the router's LAN side is a"
  echo "bridge (lan0), the switch Alice and Bob are plugged into: its ports, port-alice"
  echo "and port-bob, are the router's ends of their cables, with no address of their own."
  echo "IPv4 only: IPv6 is switched off on every interface (no ::1, no fe80:: address)."
  local host
  for host in alice router; do
    echo
    echo "$host\$ ip -br address; ip route"
    { on "$host" ip -br address; on "$host" ip route; } | sed 's/^/    | /'
  done
  echo
  echo
  echo "alice\$ cat /etc/hosts               (alice's own, one name per address, IPv4 only)"
  on alice cat /etc/hosts | sed 's/^/    | /'
  echo
  echo "alice\$ getent hosts bob www        (from alice's own /etc/hosts)"
  on alice getent hosts bob www | sed 's/^/    | /'
}

scene_talk() {
  echo
  echo "=== 1. Bob listens, Alice connects to him by name, both type"
  local bob=$WORK/bob.screen alice=$WORK/alice.screen
  keyboard bob 3
  keyboard alice 4
  capture_start talk alice
  echo "(-4: the lab's hosts have IPv4 addresses only, so Bob listens on IPv4 only,"
  echo "0.0.0.0. Without -4 his socket would be ::, IPv6's every address, which takes"
  echo "IPv4 clients too, as ::ffff:192.0.2.10: it works here, but says IPv6.)"
  echo "bob\$ stage3-duplex -v -4 -l 3000" >"$bob"
  start bob bob "$bob" "$WORK/bob.in" "$BIN/stage3-duplex" -v -4 -l 3000
  wait_for "$bob" "listening on"
  echo "alice\$ stage3-duplex -v bob 3000" >"$alice"
  start alice alice "$alice" "$WORK/alice.in" "$BIN/stage3-duplex" -v bob 3000
  wait_for "$alice" "connected to"
  wait_for "$bob" "connection from"
  sleep "$PAUSE"
  type_line "$bob" 3 "Hello" "Bob types"
  wait_for "$alice" "Hello"
  type_line "$alice" 4 "World" "Alice types"
  wait_for "$bob" "World"
  say "$bob" "(Ctrl-D)" "Bob ends his input: FIN"
  exec 3>&-
  sleep "$PAUSE"
  say "$alice" "(Ctrl-D)" "Alice ends hers: FIN"
  exec 4>&-
  wait_exit "$pid_bob"
  echo "(exit status $status)" >>"$bob"
  wait_exit "$pid_alice"
  echo "(exit status $status)" >>"$alice"
  capture_stop talk
  show "Bob's screen, on host bob:" "$bob"
  show "Alice's screen, on host alice:" "$alice"
  ladder talk "The packets on Alice's cable (eth0), ---> from her, <--- to her; seq and ack
count the bytes from each side's SYN (relative, as tcpdump shows them):"
  grep -qx "connection from 192.0.2.10 port [0-9]*" "$bob" || fail "Bob did not see Alice's address"
  expect talk "alice 192.0.2.10" "Alice's address"
  expect talk "bob 192.0.2.20" "Bob's address"
  expect talk "---SYN--" "SYN"
  expect talk "<--SYN-ACK--" "SYN-ACK"
  expect talk '"Hello\n"' "Hello"
  expect talk '"World\n"' "World"
  expect talk "FIN-ACK" "FIN"
  tcpdump_view talk
}

# tcpdump_view NAME: the first lines of the capture as tcpdump reads it,
# where it can run: in a user namespace it cannot even read a file (it
# drops privileges first, and setgroups() is denied there).
tcpdump_view() {
  command -v tcpdump >/dev/null || return 0
  local why
  echo
  if why=$(tcpdump -nn -r "$WORK/$1.pcap" tcp 2>&1 >"$WORK/$1.tcpdump"); then
    echo "The same capture, read by tcpdump (tcpdump -nn -r $1.pcap tcp, the first lines):"
    head -n 4 "$WORK/$1.tcpdump" | cut -c 1-110 | sed 's/^/    | /'
  else
    echo "tcpdump cannot run here, not even to read the capture: ${why##*$'\n'}"
    echo "(In a user namespace it drops privileges, and setgroups() is denied. Outside"
    echo "the lab it can: LAB_KEEP=DIR make lab keeps the captures, for tcpdump -nn -r.)"
  fi
}

# The web server: nginx where installed (and not LAB_NGINX=none), with a
# configuration, logs and PID file of its own in the lab's folder, and a
# short client_header_timeout (HEADER_TIMEOUT seconds), for the scene of a
# request typed too slowly; else stage3-duplex, sending www/response.http.
# Either way the page says who sent it. web_pid: nginx's PID, or empty;
# www_serves: what www serves, in words, and why not nginx.
web_server_start() {
  mkdir -p "$WORK/www"
  local timeout=${1:-$HEADER_TIMEOUT} why_not
  if [[ ${LAB_NGINX:-} == none ]]; then
    why_not="LAB_NGINX=none"
  elif ! command -v nginx >/dev/null; then
    why_not="nginx is not installed: sudo apt-get install nginx"
  fi
  web_pid=""
  if [[ -n ${why_not:-} ]]; then
    web_page "stage3-duplex -l 80 on www, a program that writes the same bytes,
these, to whoever connects, whatever the request. A web server reads the
request first, and answers what it asked for." >"$WORK/www/page.html"
    {
      printf 'HTTP/1.1 200 OK\r\nServer: stage3-duplex (lab/run.sh)\r\n'
      printf 'Content-Type: text/html; charset=utf-8\r\nContent-Length: %s\r\n' \
        "$(wc -c <"$WORK/www/page.html")"
      printf 'Connection: close\r\n\r\n'
      cat "$WORK/www/page.html"
    } >"$WORK/www/response.http"
    www_serves="no nginx ($why_not): stage3-duplex sends a page"
    no_nginx=$why_not
    return 0
  fi
  # The web root holds the page alone: nginx.conf, its logs and PID file
  # are beside it, out of reach (http://www/nginx.conf: 404).
  mkdir -p "$WORK/www/html"
  web_page "nginx on www (198.51.100.80), the lab's web server: it read your
request, found the file index.html in its folder and sent it back." >"$WORK/www/html/index.html"
  # `user root`: in a user namespace no other user exists to switch to.
  cat >"$WORK/www/nginx.conf" <<EOF
user root root;
daemon off;
master_process off;
pid $WORK/www/nginx.pid;
error_log $WORK/www/error.log;
events { worker_connections 16; }
http {
  access_log off;
  client_header_timeout ${timeout}s;
  client_body_temp_path $WORK/www/body;
  proxy_temp_path $WORK/www/proxy;
  fastcgi_temp_path $WORK/www/fastcgi;
  uwsgi_temp_path $WORK/www/uwsgi;
  scgi_temp_path $WORK/www/scgi;
  server { listen 198.51.100.80:80; root $WORK/www/html; }
}
EOF
  enter www
  "${into[@]}" nginx -p "$WORK/www" -e "$WORK/www/error.log" -c "$WORK/www/nginx.conf" \
    </dev/null >"$WORK/www/nginx.out" 2>&1 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  web_pid=$!
  www_serves="nginx on port 80, which closes a connection whose request is not complete within ${timeout} s: client_header_timeout"
  local tries
  for ((tries = 100; tries > 0; tries--)); do
    on www ss -Hltn 'sport = :80' 2>/dev/null | grep -q LISTEN && return 0
    kill -0 "$web_pid" 2>/dev/null || break
    sleep 0.05
  done
  fail "nginx did not start on www: $(cat "$WORK/www/nginx.out" "$WORK/www/error.log" 2>/dev/null)"
}

# web_page TEXT: the lab's page, TEXT saying who served it.
web_page() {
  cat <<EOF
<!DOCTYPE html>
<html>
<head><title>www, the lab's web server</title></head>
<body>
<h1>Hello from www</h1>
<p>This page was sent by $1</p>
</body>
</html>
EOF
}

# Without nginx, in the shells: stage3-duplex -l 80 on www, again and again,
# each one sending the page to the connection it accepts.
shell_web_server() {
  [[ -z $web_pid ]] || return 0
  enter www
  # shellcheck disable=SC2016  # $1 and $2: the inner bash's arguments
  "${into[@]}" bash -c 'while :; do "$1" -l 198.51.100.80 80 <"$2" >/dev/null 2>&1 || sleep 0.2; done' \
    - "$BIN/stage3-duplex" "$WORK/www/response.http" </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
}

# Without nginx: one stage3-duplex per request, answering when the request's
# empty line has arrived.
stage_server_start() {
  [[ -z $web_pid ]] || return 0
  keyboard server 5
  : >"$WORK/server.request"
  enter www
  "${into[@]}" "$BIN/stage3-duplex" -l 198.51.100.80 80 <"$WORK/server.in" \
    >"$WORK/server.request" 2>/dev/null 3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  sleep 0.2
}

stage_server_answer() {
  [[ -z $web_pid ]] || return 0
  wait_for "$WORK/server.request" $'\r'
  local tries
  for ((tries = 100; tries > 0; tries--)); do
    grep -qx $'\r' "$WORK/server.request" && break
    sleep 0.05
  done
  cat "$WORK/www/response.http" >&5
  exec 5>&-
}

scene_web() {
  echo
  echo "=== 2. Alice finds www's address, then fetches a page from it, across the router"
  web_server_start
  if [[ -n $web_pid ]]; then
    echo "www runs nginx (its own configuration, logs and PID file in the lab's folder)."
  else
    echo "www: $www_serves."
  fi
  scene_ping
  capture_start web alice
  local page=$WORK/page.screen
  keyboard page 6
  stage_server_start
  echo "alice\$ stage4-http -C www 80" >"$page"
  start page alice "$page" "$WORK/page.in" "$BIN/stage4-http" -C www 80
  sleep "$PAUSE"
  type_line "$page" 6 "GET / HTTP/1.1" "Alice types the request line"
  type_line "$page" 6 "Host: www" "and the Host header"
  type_line "$page" 6 "" "an empty line: the request is complete"
  stage_server_answer
  wait_for "$page" "</html>"
  say "$page" "(Ctrl-D)" "Alice ends her input"
  exec 6>&-
  wait_exit "$pid_page"
  echo "(exit status $status)" >>"$page"
  show "Alice's screen, HTTP by hand:" "$page"
  grep -q "^HTTP/1.1 200 OK" "$page" || fail "no 200 OK by hand"

  local fetch=$WORK/fetch.screen
  : >"$WORK/empty"
  stage_server_start
  echo "alice\$ stage4-http -v http://www/" >"$fetch"
  start fetch alice "$fetch" "$WORK/empty" "$BIN/stage4-http" -v http://www/
  stage_server_answer
  wait_exit "$pid_fetch"
  echo "(exit status $status)" >>"$fetch"
  ((status == 0)) || fail "stage4-http http://www/ exited with status $status"
  capture_stop web
  show "Alice's screen, the request written by stage4-http:" "$fetch"
  ladder web "The packets on Alice's cable: two connections to www, one after the other:"
  expect web "www 198.51.100.80" "www's address"
  expect web '"GET / HTTP/1.1\r\n"' "the request"
  expect web '"HTTP/1.1 200 OK\r\n' "the response"
}

# The seed finds the server's address with ping: an ICMP echo request, and
# the reply, whose sender is the address. ping is iputils-ping.
scene_ping() {
  if ! command -v ping >/dev/null; then
    echo "(ping is not installed here, sudo apt-get install iputils-ping: no ping scene.)"
    return 0
  fi
  local screen=$WORK/ping.screen
  capture_start ping alice
  echo "alice\$ ping -c 1 www" >"$screen"
  start ping alice "$screen" /dev/null ping -c 1 -W 5 www
  wait_exit "$pid_ping" 10
  echo "(exit status $status)" >>"$screen"
  capture_stop ping
  show "Alice's screen: ping finds www's address, as the exercise does for google.com:" "$screen"
  ladder ping "Its packets: first Alice asks for the router's Ethernet address (www is not on
her network), then an ICMP echo request to www's address, and the reply. (ping's
ttl=63: the reply crossed one router, which took one from the 64 www set.)"
  grep -qF "(198.51.100.80)" "$screen" || fail "ping did not print www's address"
  expect ping "---ICMP echo request" "the echo request"
  expect ping "<--ICMP echo reply" "the echo reply"
}

# by_hand NAME TITLE: Alice's stage4-http -C www 80 with a keyboard (FD 6),
# under a capture; the lines to type follow, then by_hand_end.
by_hand() {
  echo
  echo "--- $2"
  capture_start "$1" alice
  keyboard "$1" 6
  echo "alice\$ stage4-http -C www 80" >"$WORK/$1.screen"
  start "$1" alice "$WORK/$1.screen" "$WORK/$1.in" "$BIN/stage4-http" -C www 80
  sleep "$PAUSE"
}

# by_hand_end NAME: Alice's Ctrl-D, her program's end, its screen and ladder.
by_hand_end() {
  local screen=$WORK/$1.screen pid_var=pid_$1
  say "$screen" "(Ctrl-D)" "Alice ends her input"
  exec 6>&-
  wait_exit "${!pid_var}"
  echo "(exit status $status)" >>"$screen"
  capture_stop "$1"
  show "Alice's screen:" "$screen"
  ladder "$1" "Its packets:"
}

# The exercise's troubleshooting, caused: a mistyped request (400), and a
# request typed too slowly (nginx closes the connection). nginx's answers.
scene_troubleshooting() {
  echo
  echo "=== 3. The exercise's troubleshooting: a mistyped request, a request typed too slowly"
  if [[ -z $web_pid ]]; then
    echo "(No scenes here: these are nginx's answers, and www has no nginx: $no_nginx.)"
    return 0
  fi
  by_hand typo "400 Bad Request: Alice forgets the colon after Host"
  local screen=$WORK/typo.screen
  type_line "$screen" 6 "GET / HTTP/1.1" "Alice types the request line"
  type_line "$screen" 6 "Host www" "and the Host header, without its colon"
  wait_for "$screen" "</html>"
  by_hand_end typo
  grep -q "^HTTP/1.1 400 Bad Request" "$screen" || fail "no 400 Bad Request for a mistyped header"
  expect typo '"Host www\r\n"' "the mistyped header"
  expect typo '"HTTP/1.1 400 Bad Request"' "the 400 response"
  echo "nginx answered at the broken line, without waiting for the rest, and closed"
  echo "the connection (its FIN after the response): a request it cannot read is over."

  by_hand slow "No answer: Alice types too slowly, and www's nginx closes the connection"
  echo "(www's nginx.conf says client_header_timeout ${HEADER_TIMEOUT}s: a request's head must be"
  echo "complete within $HEADER_TIMEOUT s of connecting; nginx's default is 60 s, this lab's is short"
  echo "to be watched.)"
  screen=$WORK/slow.screen
  type_line "$screen" 6 "GET / HTTP/1.1" "Alice types the request line, then stops"
  # Once nginx has closed its side, Alice's socket waits for her own close.
  local tries
  for ((tries = (HEADER_TIMEOUT + 5) * 20; tries > 0; tries--)); do
    on alice ss -Htn state close-wait 2>/dev/null | grep -qF 198.51.100.80:80 && break
    sleep 0.05
  done
  ((tries > 0)) || fail "nginx did not close the connection within $((HEADER_TIMEOUT + 5)) s"
  say "$screen" "(nothing comes back)" "after ${HEADER_TIMEOUT} s, nginx has closed the connection"
  by_hand_end slow
  expect slow '"GET / HTTP/1.1\r\n"' "the request line"
  expect slow "<--FIN-ACK" "www's FIN"
  grep -q "HTTP/1.1" <(sed 1,2d "$screen") && fail "an answer came to the slow request"
  echo "nginx sent no answer, only its FIN, ${HEADER_TIMEOUT} s after the handshake. Typed by hand on a"
  echo "terminal, stage4-http ends when the server does; here Alice ends her input herself."
  echo "OpenBSD's nc would say nothing and go on waiting: the next line typed gets a reset"
  echo "(RST) from www, and nc exits, status 0, without a word."
}

# The exercise's last step: "open your browser, visit the site and display
# the source code of the page". A real browser on alice, Chromium without a
# screen (headless), fetches http://www/; its own request, from the capture,
# beside the lines Alice typed; the page it got, beside stage4-http's.
# --no-sandbox: Chromium will not start as root (the lab's root, too)
# without it; its profile is a folder of the lab's, removed after.
scene_browser() {
  echo
  echo "=== 4. A browser fetches the same page: Chromium, headless, on alice"
  local chromium
  chromium=$(command -v chromium || command -v chromium-browser || true)
  if [[ -z $chromium ]]; then
    echo "(No browser scene: Chromium is not installed: sudo apt-get install chromium)"
    return 0
  elif [[ -z $web_pid ]]; then
    echo "(No browser scene: it needs nginx on www, which has none: $no_nginx.)"
    return 0
  fi
  local profile=$WORK/browser screen=$WORK/browser.screen
  mkdir -p "$profile"
  capture_start browser alice
  echo "alice\$ chromium --headless --dump-dom http://www/     (the page as the browser built it)" >"$screen"
  enter alice
  "${into[@]}" env HOME="$profile" timeout -k 5 "$BROWSER_TIMEOUT" "$chromium" --headless \
    --no-sandbox --user-data-dir="$profile" --disable-gpu --no-first-run \
    --no-default-browser-check --disable-background-networking --disable-component-update \
    --disable-sync --dump-dom http://www/ </dev/null >>"$screen" 2>"$WORK/browser.err" \
    3>&- 4>&- 5>&- 6>&- &
  pids+=("$!")
  wait_exit "$!" $((BROWSER_TIMEOUT + 6))
  local browser_status=$status  # before capture_stop's own
  echo "(exit status $browser_status)" >>"$screen"
  rm -rf "$profile"
  capture_stop browser
  ((browser_status == 0)) ||
    fail "chromium exited with status $browser_status: $(grep -v dbus "$WORK/browser.err" | tail -n 3)"
  show "Alice's screen:" "$screen"
  ladder browser "Its packets, each segment's data under it (lab-ladder -A). After the page,
Chromium asks for /favicon.ico on its own, the icon of a tab: www has none, 404." -A
  local connections
  connections=$(grep -c -- "---SYN--" "$WORK/browser.ladder")
  if ((connections > 1)); then
    echo "($connections connections: Chromium opens one ahead of need, and closes it unused if no"
    echo "request comes for it.)"
  fi
  expect browser '"GET / HTTP/1.1\r\n' "the browser's request"
  expect browser '"HTTP/1.1 200 OK\r\n' "the response"
  browser_request
  browser_page
}

# segment_data ARROW TEXT: the data under the first rung of the browser's
# ladder that shows ARROW and TEXT (its lines, as lab-ladder -A prints them).
segment_data() {
  awk -v arrow="$1" -v text="$2" '
    !inside && index($0, arrow) && index($0, text) { inside = 1; next }
    inside && index($0, "                  | ") == 1 { print substr($0, 21); next }
    inside { exit }' "$WORK/browser.ladder"
}

# The browser's request, from its capture, beside the lines Alice typed.
browser_request() {
  segment_data "---PSH-ACK" '"GET / HTTP/1.1' >"$WORK/browser.request"
  echo
  echo "Alice typed two lines and an empty one (scene 2); the browser sends the same"
  echo "request line and Host, then headers of its own: User-Agent names the browser,"
  echo "Accept says what it takes. Then the empty line: the request is complete."
  printf '    alice, by hand:   %s\n                      %s\n                      %s\n' \
    "GET / HTTP/1.1" "Host: www" "(empty line)"
  sed 's/^$/(empty line)/; 1s/^/    the browser:      /; 2,$s/^/                      /' "$WORK/browser.request"
  grep -qx "GET / HTTP/1.1" "$WORK/browser.request" || fail "no request line in the browser's request"
  grep -qx "Host: www" "$WORK/browser.request" || fail "no Host: www in the browser's request"
  grep -q "^User-Agent: " "$WORK/browser.request" || fail "no User-Agent in the browser's request"
}

# The page source the browser got (the body of www's answer on its
# connection, from the capture) is the body stage4-http printed in scene 2.
browser_page() {
  segment_data "<--PSH-ACK" '"HTTP/1.1 200 OK' | sed -n '/^<!DOCTYPE html>/,/^<\/html>/p' \
    >"$WORK/browser.page"
  sed 's/\r$//' "$WORK/page.screen" | sed -n '/^<!DOCTYPE html>/,/^<\/html>/p' >"$WORK/by-hand.page"
  echo
  if [[ -s $WORK/browser.page ]] && diff "$WORK/by-hand.page" "$WORK/browser.page" >/dev/null; then
    echo "The page source the browser got, the body of www's answer on its connection"
    echo "(its data above; what view-source shows), is the body stage4-http printed in"
    echo "scene 2, line for line: diff finds no difference. --dump-dom prints the document"
    echo "Chromium built from it: the same elements, a few line breaks moved by its parser."
  else
    diff "$WORK/by-hand.page" "$WORK/browser.page" | sed 's/^/    | /'
    fail "the page the browser got differs from the one stage4-http printed"
  fi
  grep -q "<h1>Hello from www</h1>" "$WORK/browser.screen" || fail "the browser's page has no <h1>"
}

# fails NAME TITLE EXPECTED COMMAND...: runs COMMAND on alice, stdin
# /dev/null, shows its screen and its packets; its message must be EXPECTED.
fails() {
  local name=$1 title=$2 expected=$3
  shift 3
  local screen=$WORK/$name.screen
  echo
  echo "--- $title"
  capture_start "$name" alice
  echo "alice\$ ${*#"$BIN/"}" >"$screen"
  start "$name" alice "$screen" /dev/null "$@"
  local pid_var=pid_$name
  wait_exit "${!pid_var}" 10
  echo "(exit status $status)" >>"$screen"
  capture_stop "$name"
  show "Alice's screen:" "$screen"
  ladder "$name" "Its packets:"
  grep -qxF "$expected" "$screen" || fail "expected \"$expected\" on Alice's screen"
}

scene_failures() {
  echo
  echo "=== 5. Failures, for real: each message beside the packets that caused it"

  fails refused "Connection refused: nothing listens on bob port 3001; Bob's kernel answers RST" \
    "stage3-duplex: connect to 192.0.2.20 port 3001: Connection refused" \
    "$BIN/stage3-duplex" -v bob 3001
  expect refused "<--RST-ACK" "RST"

  capture_start router_side router eth1
  fails unreachable "No route to host: 198.51.100.99 is on www's network, but no machine has it" \
    "stage3-duplex: connect to 198.51.100.99 port 80: No route to host" \
    "$BIN/stage3-duplex" -v 198.51.100.99 80
  capture_stop router_side
  ladder router_side "Meanwhile on the router's www side (eth1): it asks who has 198.51.100.99,
three times; nobody answers, so it tells Alice: ICMP host unreachable."
  expect router_side "ARP who-has 198.51.100.99" "the router's ARP requests"
  expect unreachable "ICMP host unreachable" "ICMP host unreachable"
  expect unreachable "from router 192.0.2.1" "the router as the ICMP's sender"

  fails timeout "Connection timed out: the router silently drops packets for 203.0.113.0/24" \
    "stage3-duplex: connect to 203.0.113.7 port 80: Connection timed out" \
    "$BIN/stage3-duplex" -v -w 2 203.0.113.7 80
  echo "(Alice's kernel sent the SYN again after a second; -w 2 gave up after two.)"
  expect timeout "---SYN--" "SYN"

  scene_reset
}

# A reset in mid-conversation: Bob's program stops (Ctrl-Z), Alice's line
# waits unread in Bob's kernel, then Bob's program is killed: his kernel
# closes a socket with unread data, and says so with RST, not FIN.
scene_reset() {
  echo
  echo "--- Connection reset by peer: Bob's program dies with Alice's bytes unread"
  local bob=$WORK/bob2.screen alice=$WORK/alice2.screen
  keyboard bob2 3
  keyboard alice2 4
  capture_start reset alice
  echo "bob\$ stage3-duplex -v -4 -l 3002" >"$bob"
  start bob2 bob "$bob" "$WORK/bob2.in" "$BIN/stage3-duplex" -v -4 -l 3002
  wait_for "$bob" "listening on"
  echo "alice\$ stage3-duplex -v bob 3002" >"$alice"
  start alice2 alice "$alice" "$WORK/alice2.in" "$BIN/stage3-duplex" -v bob 3002
  wait_for "$alice" "connected to"
  type_line "$alice" 4 "Are you there?" "Alice types"
  wait_for "$bob" "Are you there?"
  say "$bob" "^Z" "Bob's program stops (kill -STOP)"
  kill -STOP "$pid_bob2"
  type_line "$alice" 4 "Hello?" "Alice types: Bob's kernel takes it, unread"
  say "$bob" "Killed" "and is killed (kill -9): RST"
  kill -KILL "$pid_bob2"
  wait "$pid_bob2" 2>/dev/null || true  # without bash's own "Killed" notice
  wait_exit "$pid_alice2"
  echo "(exit status $status)" >>"$alice"
  exec 3>&- 4>&-
  capture_stop reset
  show "Bob's screen:" "$bob"
  show "Alice's screen:" "$alice"
  ladder reset "Their packets:"
  grep -qxF "stage3-duplex: read from network: Connection reset by peer" "$alice" ||
    fail "Alice did not read \"Connection reset by peer\""
  expect reset "<--RST" "RST"
}

play() {
  build_network
  scene_network
  scene_talk
  scene_web
  scene_troubleshooting
  scene_browser
  scene_failures
  if [[ -n ${LAB_KEEP:-} ]]; then
    mkdir -p "$LAB_KEEP"
    cp "$WORK"/*.pcap "$WORK"/*.screen "$WORK"/*.ladder "$LAB_KEEP"/
    echo
    echo "Captures and screens kept in $LAB_KEEP (tcpdump -nn -r FILE.pcap, or bin/lab-ladder -r)."
  fi
  echo
  echo "Done. To play the parts yourself: make lab-shell HOST=bob, and in a second"
  echo "terminal make lab-shell HOST=alice (docs/lab.md)."
}

# What a shell on a host starts with (here and in a terminal that joins).
write_bashrc() {
  echo "$BIN" >"$WORK/bin.path"
  cat >"$WORK/bashrc" <<EOF
PS1='\h:\w\$ '
cd "$ROOT"
echo "You are on \$(hostname) (\$(ip -br -4 address show eth0 2>/dev/null | awk '{ print \$3 }'; ip -br -4 address show lan0 2>/dev/null | awk '{ print \$3 }'))."
echo "The stages are in your PATH: stage3-duplex -v -4 -l 3000, stage3-duplex bob 3000..."
# Not root outside: the lab's user namespace maps this user to root.
if [[ \$(awk '{ print \$1 \$2 \$3 }' /proc/self/uid_map) != 004294967295 ]]; then
  echo "id says root: in the lab's user namespace your user is root, over the lab's namespaces only (docs/lab.md)."
fi
echo "Packets: lab-ladder -i eth0 (Ctrl-C stops it). exit (or Ctrl-D) leaves the host."
echo "nc, when the server closes (nginx on www does after a 400, or after ${SHELL_HEADER_TIMEOUT} s without a whole request):"
echo "  nc says nothing; your next line gets a reset, and nc exits, status 0, without a word."
echo "  stage3-duplex and stage4-http end at once instead: the prompt comes back (docs/lab.md)."
EOF
}

# The lab for shells: the network and the web server, described for the
# shells in hosts.text, then ready; it lasts until the last shell has left
# (see find_lab): the exclusive lock on lab.lock is granted then.
lab_for_shells() {
  build_network
  web_server_start "$SHELL_HEADER_TIMEOUT"
  shell_web_server
  {
    echo "lab: hosts alice 192.0.2.10, bob 192.0.2.20, router 192.0.2.1 and 198.51.100.1,"
    echo "     www 198.51.100.80 ($www_serves)."
  } >"$WORK/hosts.text"
  touch "$WORK/ready"
  exec 9<"$WORK/lab.lock"
  flock --exclusive 9 &
  pids+=("$!")
  # wait, not a command in the foreground: TERM's trap runs at once.
  wait "$!"
}

inside() {
  WORK=$1
  BIN=$2
  trap cleanup EXIT
  trap 'echo "lab: FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR
  trap 'echo "lab: interrupted: removing the lab" >&2; exit 130' INT TERM
  write_bashrc
  if [[ $3 == shells ]]; then
    lab_for_shells
  else
    play
  fi
}

case ${1:-} in
  --inside) shift; inside "$@" ;;
  --keeper) shift; keeper "$@" ;;
  *) outside "$@" ;;
esac
