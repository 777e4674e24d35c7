#!/usr/bin/env bash
# peers.sh: whole-program throughput over loopback, our stages against nc and friends.
#
# Purpose: moves MIB MiB (default 1024) over TCP on 127.0.0.1 between two
# instances of each program, a listener writing to /dev/null and a client
# reading a file, and prints a Markdown table of MiB/s, every figure also
# as a ratio to stage3-duplex. Programs: bin/stage2-connect, bin/stage3-duplex,
# OpenBSD nc (-N), ncat (--send-only/--recv-only), socat, and iperf3 (the
# kernel's own limit: no file, no stdout, its own 128 KiB buffer).
#
# Method:
# - The data is a file made once in /dev/shm (tmpfs, so in RAM; $TMPDIR or
#   /tmp if /dev/shm is missing or full), given to the client as stdin. No
#   generator process competes for the machine's two cores, and the client
#   reads the file with its own buffer size: a pipe from `head -c` would cap
#   every read at the pipe's 64 KiB and hide the very difference measured.
# - Rounds are interleaved (A B C, C B A, A B C ...), so slow spells of a
#   shared machine fall on every program alike; the table gives medians,
#   and each ratio is taken within one round.
# - The time runs from starting the client to both programs having exited,
#   so it includes starting the client (a millisecond or so).
# - Each program gets a free port: ours listen on port 0 and tell which with
#   -v; for the others a tiny python3 binds port 0 and releases it.
# - Nothing is installed: a missing program is skipped, with a word saying so.
#   Every process started is stopped by its PID, and every wait is bounded.
#
# Usage: bench/peers.sh [-o FILE] [MIB [ROUNDS]]
#        make bench-peers [MIB=256] [ROUNDS=5]     (writes bench/results/peers.md)
#   -o FILE   also write the table to FILE
#   env: BIN (default: bin, next to this folder), PEERS_TIMEOUT (seconds per run)
#
# See also: docs/benchmarks.md, bench/copy_loop_bench.cpp (the copy loop
# alone), nc(1), ncat(1), socat(1), iperf3(1).
set -euo pipefail

out=""
if [[ ${1-} == -o ]]; then
  out=${2:?"-o needs a file"}
  shift 2
fi
mib=${1:-1024}
rounds=${2:-5}
if ! [[ $mib =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [-o FILE] [MIB [ROUNDS]]  (positive whole numbers)" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../bin}
limit=${PEERS_TIMEOUT:-$((30 + mib / 50))}  # seconds per run, generous at 50 MiB/s
bytes=$((mib * 1024 * 1024))

say() { echo "peers.sh: $*" >&2; }

# --- Processes: at most one listener and one client run at a time; their
# PIDs are kept until they have been waited for, and stopped by PID. -------
listener=""
sender=""
work=$(mktemp -d "${TMPDIR:-/tmp}/peers.XXXXXX")
data=""
stop() {  # stop PID...: SIGTERM (timeout passes it on to its program), then reap
  local pid
  for pid in "$@"; do
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  for pid in "$@"; do
    if [[ -n $pid ]]; then wait "$pid" 2>/dev/null || true; fi
  done
}
cleanup() {
  stop "$listener" "$sender"
  rm -rf "$work"
  if [[ -n $data ]]; then rm -f "$data"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Which programs are here. ----------------------------------------------
programs=()
have() { command -v "$1" >/dev/null 2>&1; }
for stage in stage2-connect stage3-duplex; do
  if [[ -x $bin/$stage ]]; then programs+=("$stage"); else say "skipping $stage: no $bin/$stage (run make)"; fi
done
if [[ ! -x $bin/stage3-duplex ]]; then
  say "stage3-duplex is the reference of every ratio: build it first (make)"
  exit 1
fi
if ! have python3; then
  say "skipping nc, ncat, socat, iperf3: python3 is needed to find them a free port"
else
  if ! have nc; then
    say "skipping nc: not installed (Debian: netcat-openbsd)"
  elif ! nc -h 2>&1 | grep -q OpenBSD; then
    say "skipping nc: not OpenBSD netcat, which -N needs (Debian: netcat-openbsd)"
  else
    programs+=(nc)
  fi
  for tool in ncat socat iperf3; do
    if have "$tool"; then programs+=("$tool"); else say "skipping $tool: not installed"; fi
  done
fi

# --- The data file. ----------------------------------------------------------
for dir in /dev/shm "${TMPDIR:-/tmp}"; do
  [[ -d $dir && -w $dir ]] || continue
  free_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
  if ((free_kib > mib * 1024 + 65536)); then
    data=$(mktemp "$dir/peers-data.XXXXXX")
    break
  fi
done
if [[ -z $data ]]; then
  say "no room for $mib MiB in /dev/shm or ${TMPDIR:-/tmp}: try MIB=256"
  exit 1
fi
head -c "$bytes" /dev/zero >"$data"

# --- Ports and listeners. ----------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True once something listens on 127.0.0.1:$1 (or, without /proc, after a pause).
listening() {
  if [[ ! -r /proc/net/tcp ]]; then
    sleep 0.5
    return 0
  fi
  local hex
  hex=$(printf '%04X' "$1")
  awk -v want="0100007F:$hex" '$2 == want && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

# start NAME: starts NAME's listener in the background (stdin and stdout
# /dev/null, stderr to a log), waits at most 5 seconds for it to listen,
# and sets `listener` (its PID) and `port`. Fails if it never listens.
start() {
  local name=$1 log=$work/$1.log
  port=""
  : >"$log"  # now: the listener's own redirection happens later, in the background
  case $name in
    stage2-connect | stage3-duplex)
      timeout "$limit" "$bin/$name" -v -l 127.0.0.1 0 </dev/null >/dev/null 2>"$log" &
      ;;
    *)
      port=$(free_port) || true
      if [[ ! $port =~ ^[0-9]+$ ]]; then
        say "python3 could not find a free port for $name"
        return 1
      fi
      case $name in
        nc) timeout "$limit" nc -l 127.0.0.1 "$port" </dev/null >/dev/null 2>"$log" & ;;
        ncat) timeout "$limit" ncat --recv-only -l 127.0.0.1 "$port" </dev/null >/dev/null 2>"$log" & ;;
        socat)
          timeout "$limit" socat -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" STDOUT \
            </dev/null >/dev/null 2>"$log" &
          ;;
        iperf3) timeout "$limit" iperf3 -s -1 -B 127.0.0.1 -p "$port" </dev/null >/dev/null 2>"$log" & ;;
      esac
      ;;
  esac
  listener=$!
  local waited
  for ((waited = 0; waited < 250; ++waited)); do
    if [[ $name == stage* ]]; then
      port=$(awk '/^listening on/ { print $NF; exit }' "$log")
      [[ -n $port ]] && return 0
    elif listening "$port"; then
      return 0
    fi
    kill -0 "$listener" 2>/dev/null || break
    sleep 0.02
  done
  say "$name did not start listening: $(head -c 300 "$log")"
  stop "$listener"
  listener=""
  return 1
}

# client NAME: sends the data file to 127.0.0.1:$port.
client() {
  case $1 in
    stage2-connect | stage3-duplex) timeout "$limit" "$bin/$1" 127.0.0.1 "$port" ;;
    nc) timeout "$limit" nc -N 127.0.0.1 "$port" ;;
    ncat) timeout "$limit" ncat --send-only 127.0.0.1 "$port" ;;
    socat) timeout "$limit" socat -u STDIN "TCP:127.0.0.1:$port" ;;
    iperf3) timeout "$limit" iperf3 -c 127.0.0.1 -p "$port" -n "$bytes" ;;
  esac <"$data" >/dev/null 2>"$work/$1.client.log"
}

# run NAME: one transfer; sets `result` to its MiB/s, or fails saying why.
# (Not called as $(run ...): a subshell would hide its PIDs from cleanup.)
run() {
  local name=$1 tries status=0 listener_status=0
  result=""
  for ((tries = 0; tries < 3; ++tries)); do  # a port taken meanwhile: try another
    start "$name" && break
  done
  ((tries < 3)) || return 1
  local t0=$EPOCHREALTIME
  client "$name" &
  sender=$!
  wait "$sender" || status=$?
  sender=""
  # A client that failed leaves nobody to end the listener's wait: stop it.
  ((status == 0)) || kill "$listener" 2>/dev/null || true
  wait "$listener" || listener_status=$?
  listener=""
  local t1=$EPOCHREALTIME
  ((status != 0)) || status=$listener_status
  if ((status != 0)); then
    local why="status $status"
    ((status == 124)) && why="timed out after ${limit}s"
    say "$name failed ($why): $(cat "$work/$name.client.log" "$work/$name.log" | head -c 300 | tr '\n' ' ')"
    return 1
  fi
  if [[ $name == stage* ]] && ! grep -q "received $bytes bytes" "$work/$name.log"; then
    say "$name: the listener did not receive all $bytes bytes: $(tail -n 1 "$work/$name.log")"
    return 1
  fi
  result=$(awk -v mib="$mib" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", mib / (t1 - t0) }')
}

# --- The rounds. ---------------------------------------------------------------
declare -A speed  # speed[name,round] = MiB/s, absent when the run failed
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
say "moving $mib MiB over 127.0.0.1, $rounds rounds of: ${programs[*]}"
for ((round = 1; round <= rounds; ++round)); do
  line="round $round:"
  order=("${programs[@]}")
  if ((round % 2 == 0)); then  # A B C, then C B A: no program always goes first
    order=()
    for ((i = ${#programs[@]} - 1; i >= 0; --i)); do order+=("${programs[i]}"); done
  fi
  for name in "${order[@]}"; do
    if run "$name"; then
      speed[$name,$round]=$result
      line+=" $name $result"
    else
      line+=" $name failed"
    fi
  done
  say "$line MiB/s"
done

# --- The table. -------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b }'; }

# shellcheck disable=SC2016 # the backquotes are Markdown, not shell
command_of() {
  case $1 in
    stage2-connect | stage3-duplex) echo "\`$1 -l 127.0.0.1 0\` ← \`$1 127.0.0.1 PORT\`" ;;
    nc) echo '`nc -l 127.0.0.1 PORT` ← `nc -N 127.0.0.1 PORT`' ;;
    ncat) echo '`ncat --recv-only -l 127.0.0.1 PORT` ← `ncat --send-only 127.0.0.1 PORT`' ;;
    socat) echo '`socat -u TCP-LISTEN:PORT,bind=127.0.0.1 STDOUT` ← `socat -u STDIN TCP:127.0.0.1:PORT`' ;;
    iperf3) echo '`iperf3 -s -1` ← `iperf3 -c 127.0.0.1 -n BYTES` (no file, no stdout)' ;;
  esac
}

table() {
  local name r cells values ratios reference m q cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  echo "<!-- Written by bench/peers.sh (make bench-peers); see docs/benchmarks.md. -->"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc 2>/dev/null || echo '?') CPUs (${cpu:-unknown}), $(uname -sr),"
  echo "load average before the run: $load_before."
  echo
  echo "$mib MiB over 127.0.0.1, $rounds interleaved rounds; MiB/s, and in brackets the"
  echo "ratio to stage3-duplex in the same round (median column: median of those ratios)."
  echo
  printf '| program | median MiB/s (ratio) |'
  for ((r = 1; r <= rounds; ++r)); do printf ' round %d |' "$r"; done
  printf ' listener ← client |\n|---|---:|'
  for ((r = 1; r <= rounds; ++r)); do printf -- '---:|'; done
  printf -- '---|\n'
  for name in "${programs[@]}"; do
    cells="" values="" ratios=""
    for ((r = 1; r <= rounds; ++r)); do
      reference=${speed[stage3-duplex,$r]-}
      if [[ -n ${speed[$name,$r]-} ]]; then
        values+="${speed[$name,$r]}"$'\n'
        q=$(ratio "${speed[$name,$r]}" "$reference")
        [[ -n $q ]] && ratios+="$q"$'\n'
        cells+=" $(printf '%.0f' "${speed[$name,$r]}") (${q:-?}) |"
      else
        cells+=" failed |"
      fi
    done
    m=$(printf '%s' "$values" | median)
    q=$(printf '%s' "$ratios" | median)
    printf '| %s | %s |%s %s |\n' "$name" "${m:+$(printf '%.0f' "$m") ($(printf '%.2f' "${q:-0}"))}" \
      "$cells" "$(command_of "$name")"
  done
  # The figure the project aims at: stage3-duplex against nc, round by round.
  if [[ " ${programs[*]} " == *" nc "* ]]; then
    ratios=""
    for ((r = 1; r <= rounds; ++r)); do
      q=$(ratio "${speed[stage3-duplex,$r]-}" "${speed[nc,$r]-0}")
      [[ -n $q ]] && ratios+="$q"$'\n'
    done
    q=$(printf '%s' "$ratios" | median)
    [[ -n $q ]] && q=$(printf '%.2f' "$q")
    echo
    echo "stage3-duplex moves ${q:-?} times the bytes per second of nc (median over rounds of the"
    echo "ratio within a round; per round: $(printf '%s' "$ratios" | paste -sd ' ')). Aim: at least 1.3."
  fi
}

if [[ -n $out ]]; then
  table | tee "$out"
else
  table
fi
