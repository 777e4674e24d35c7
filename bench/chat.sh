#!/usr/bin/env bash
# chat.sh: many clients in one room, stage6-class against ncat --chat, as the room grows.
#
# Purpose: for each number of clients (default 10 100 300 1000 10000) and
# each server (bin/stage6-class; `ncat -m 20000 -l --chat` when installed),
# runs the load generator bench/chat_load.cpp twice against a fresh server:
#   storm   every client connects at once, as a class does: the time until
#           each has its first byte from the server (-j: nothing else).
#   room    the room filled (stage6-class: everyone at once again; ncat: 8 at
#           a time, as its listen backlog of 10 allows), then, once it is
#           quiet, the server's RSS (idle) and what one poll() over the idle
#           clients costs, then ten clients typing in turn for CHAT_RELAY
#           seconds, CHAT_WINDOW lines in flight: delivered lines per
#           second, p50/p99 delivery latency, the server's CPU time per
#           delivered line.
#   flood   (at FLOOD_CLIENTS, default 10 100 300) the room filled as for
#           `room`; then the last client floods it as `yes | nc` does while
#           CHAT_TALKERS clients each send a timestamped line every
#           CHAT_TALK_MS, for CHAT_FLOOD seconds: p50/p99 delivery latency of
#           the talkers' lines at every other client, flood lines reaching
#           each screen per second, clients dropped, the server's peak RSS.
#           stage6-class runs with its default -r RATE (flood control), and
#           as stage6-class-r0 with -r 0 (none), against ncat.
# stage6-class runs storm and room with -r 0: they measure the room's
# throughput, not its flood control. (A stage6-class without -r, from
# before flood control, runs without it, and has no stage6-class-r0.)
# Then bench/chat_report.py makes the tables (medians over rounds; each
# ratio taken within one round) and, with gnuplot, the plot.
#
# Method:
# - Rounds are interleaved: in each round, for each number of clients, the
#   two servers run one after the other, in alternating order, so slow
#   spells of a shared machine fall on both alike.
# - Every wait is bounded: a storm gets CHAT_STORM seconds, a room
#   CHAT_BUDGET seconds to fill; past that the run is reported as over
#   budget (with how many got in), and that measure is not repeated in
#   later rounds (ncat: its listen backlog of 10 and its select() limit of
#   1,024 descriptors make it fail the same way every time).
# - Ports: stage6-class listens on port 0 and tells which with -v; for ncat
#   a tiny python3 binds port 0 and releases it. Everything on 127.0.0.1.
# - The soft descriptor limit is raised to the hard one for every process
#   (N clients need N + 16 in the generator and about N + 10 in the server);
#   a run that does not fit is reported as skipped, with the limit.
# - Every server started is stopped by its PID (the generator sends SIGTERM
#   before closing its clients, so ncat does not announce 10,000 departures
#   to everyone while the next run measures), and waited for.
#
# Usage: bench/chat.sh [-o FILE] [-l CHAT_LOAD] [-f FLOOD_CLIENTS] [CLIENTS [ROUNDS]]
#        make bench-chat [CLIENTS="10 100 300 1000 10000"] [FLOOD_CLIENTS="10 100 300"] [ROUNDS=3]
#   -o FILE       write the report (Markdown) to FILE, the runs beside it
#                 (FILE without .md, then -runs.txt), the plot to docs/
#   -l CHAT_LOAD  the generator (default: build-bench/chat_load)
#   -f FLOOD_CLIENTS  numbers of clients for the flood ("": no flood)
#   CLIENTS       numbers of clients, e.g. "10 100 300"
#   env: BIN (default: bin, next to this folder), CHAT_RELAY (seconds of
#   typing per run, default 1), CHAT_TYPERS (default 10), CHAT_WINDOW
#   (lines in flight, default 10: one per typer; CHAT_TYPERS=1
#   CHAT_WINDOW=1 makes each pass of the server's loop relay one line),
#   CHAT_STORM (default 5), CHAT_BUDGET (20), CHAT_FLOOD (seconds of
#   talking during a flood, default 2), CHAT_TALKERS (5), CHAT_TALK_MS (500:
#   each talker's interval), CHAT_DRAIN (seconds to wait, after a flood, for
#   the talkers' lines, default 15), CHAT_SERVERS (default: all, e.g.
#   "stage6-class stage6-class-r0 ncat"),
#   CHAT_PLOT (the SVG, default docs/bench-chat.svg; empty: no plot)
#
# See also: bench/chat_load.cpp, bench/chat_report.py, bench/chat.gnu,
# docs/benchmarks.md, stage6-class/, ncat(1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=""
load=$here/../build-bench/chat_load
flood_sizes="10 100 300"
while [[ ${1-} == -o || ${1-} == -l || ${1-} == -f ]]; do
  case $1 in
    -o) out=${2:?"-o needs a file"} ;;
    -l) load=${2:?"-l needs the generator"} ;;
    -f) flood_sizes=${2?"-f needs numbers of clients"} ;;
  esac
  shift 2
done
sizes=${1:-10 100 300 1000 10000}
rounds=${2:-3}
usage="usage: $0 [-o FILE] [-l CHAT_LOAD] [-f FLOOD_CLIENTS] [CLIENTS [ROUNDS]]"
read -r -a sizes <<<"${sizes//,/ }"
read -r -a flood_sizes <<<"${flood_sizes//,/ }"
for n in "${sizes[@]}"; do
  if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n < 2)); then
    echo "$usage  (CLIENTS: numbers from 2)" >&2
    exit 2
  fi
done
for n in "${flood_sizes[@]}"; do
  if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n < 3)); then
    echo "$usage  (FLOOD_CLIENTS: numbers from 3: a flooder, a talker, a listener)" >&2
    exit 2
  fi
done
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "$usage  (ROUNDS: a positive number)" >&2
  exit 2
fi
bin=${BIN:-$here/../bin}
relay=${CHAT_RELAY:-1}
lines_in_flight=${CHAT_WINDOW:-10}
typers=${CHAT_TYPERS:-10}
storm_budget=${CHAT_STORM:-5}
room_budget=${CHAT_BUDGET:-20}
flood_seconds=${CHAT_FLOOD:-2}
talkers=${CHAT_TALKERS:-5}
talk_ms=${CHAT_TALK_MS:-500}
drain_budget=${CHAT_DRAIN:-15}
plot=${CHAT_PLOT-$here/../docs/bench-chat.svg}

say() { echo "chat.sh: $*" >&2; }

if [[ ! -x $load ]]; then
  say "no load generator at $load (make bench-chat builds it)"
  exit 1
fi
if [[ ! -x $bin/stage6-class ]]; then
  say "no $bin/stage6-class (make bin/stage6-class)"
  exit 1
fi
# Flood control (-r RATE) came with issue 15. Throughput is measured with
# -r 0, so that the benchmark measures the room, not its limiter; a binary
# from before has no -r (and no limiter).
help=$("$bin/stage6-class" -h 2>&1 || true)
if [[ $help == *"-r RATE"* ]]; then
  unlimited=(-r 0)
  servers=(stage6-class stage6-class-r0)
else
  unlimited=()
  servers=(stage6-class)
  say "$bin/stage6-class has no -r RATE (no flood control): measured as it is"
fi
if ! command -v ncat >/dev/null 2>&1; then
  say "skipping ncat --chat: not installed (Debian: ncat)"
elif ! command -v python3 >/dev/null 2>&1; then
  say "skipping ncat --chat: python3 is needed to find it a free port"
else
  servers+=(ncat)
fi
if [[ -n ${CHAT_SERVERS-} ]]; then  # e.g. CHAT_SERVERS=stage6-class: only those
  wanted=()
  for name in "${servers[@]}"; do
    [[ " $CHAT_SERVERS " == *" $name "* ]] && wanted+=("$name")
  done
  servers=("${wanted[@]}")
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- Processes: one server and one generator at a time, stopped by PID. ------
server=""
work=$(mktemp -d "${TMPDIR:-/tmp}/chat.XXXXXX")
stop() {  # stop PID: SIGTERM, SIGKILL after 3 s, then reap
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; ++i)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$server"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True once something listens on 127.0.0.1:$1.
listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v want="0100007F:$hex" '$2 == want && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

# start NAME KIND: starts a server (stdin and stdout /dev/null: the host's
# screen of stage6-class is thrown away), waits at most 5 s for it to
# listen, and sets `server` (its PID) and `port`. stage6-class floods with
# its default rate, and measures throughput with -r 0.
start() {
  local name=$1 kind=$2 log=$work/server.log waited flags=()
  port=""
  : >"$log"
  case $name in
    stage6-class*)
      if [[ $name == stage6-class-r0 || $kind != flood ]]; then flags=("${unlimited[@]}"); fi
      "$bin/stage6-class" -v "${flags[@]}" -l 127.0.0.1 0 </dev/null >/dev/null 2>"$log" &
      ;;
    ncat)
      port=$(free_port)
      ncat -m 20000 -l --chat 127.0.0.1 "$port" </dev/null >/dev/null 2>"$log" &
      ;;
  esac
  server=$!
  for ((waited = 0; waited < 250; ++waited)); do
    if [[ $name == stage6-class* ]]; then
      port=$(awk '/^listening on/ { print $NF; exit }' "$log")
      [[ -n $port ]] && return 0
    elif listening "$port"; then
      return 0
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.02
  done
  say "$name did not start listening: $(head -c 300 "$log")"
  stop "$server"
  server=""
  return 1
}

# run NAME KIND N ROUND: one run; appends its line to the runs file.
run() {
  local name=$1 kind=$2 n=$3 round=$4 args result limit
  if ! start "$name" "$kind"; then
    echo "server=$name kind=$kind round=$round status=no_server clients=$n" >>"$runs"
    return
  fi
  if [[ $kind == storm ]]; then
    args=(-j -J "$storm_budget")
    limit=$((storm_budget + 30))
  elif [[ $kind == flood ]]; then
    local window=0
    [[ $name == ncat ]] && window=8  # as for room, below
    args=(-F -c "$window" -J "$room_budget" -d "$flood_seconds" -t "$talkers" -i "$talk_ms"
      -R "$drain_budget")
    limit=$((room_budget + drain_budget + 40))
  else
    # The room fills as fast as each server can take it: stage6-class all at
    # once; ncat 8 at a time, since its listen backlog is 10 (and clients
    # left waiting cannot be closed and retried: ncat quits when a client it
    # accepts is already gone). 8 at a time costs stage6-class a pass of its
    # loop, and a `* NAME joined` to everyone, per few joins: quadratic.
    local window=0
    [[ $name == ncat ]] && window=8
    args=(-c "$window" -J "$room_budget" -d "$relay" -t "$typers" -w "$lines_in_flight" -R $((room_budget + 10)))
    limit=$((2 * room_budget + 40))
  fi
  result=$(timeout "$limit" "$load" -p "$port" -n "$n" -P "$server" -k "${args[@]}" \
    2>"$work/load.err") || result="status=generator_failed clients=$n"
  stop "$server"
  server=""
  if [[ -s $work/load.err ]]; then
    say "$name $kind $n: $(head -c 300 "$work/load.err" | tr '\n' ' ')"
  fi
  if grep -q 'Attempt to FD_SET' "$work/server.log"; then  # ncat's select() limit
    result+=" note=ncat_FD_SETSIZE"
  fi
  local rate=""
  case $name in
    stage6-class-r0) rate=" rate=0" ;;
    stage6-class) rate=" rate=$([[ $kind == flood ]] && echo default || echo 0)" ;;
  esac
  [[ $name == stage6-class && ${#unlimited[@]} == 0 ]] && rate=" rate=none"
  echo "server=$name kind=$kind round=$round$rate $result" >>"$runs"
  status=${result#status=}
  status=${status%% *}
}

# --- The rounds. ------------------------------------------------------------------
runs=$work/runs.txt
: >"$runs"
declare -A failed  # failed[server,kind,N]: over budget once, not repeated
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
# kinds NAME N: what NAME runs at N clients.
kinds() {
  local name=$1 n=$2
  if [[ $name != stage6-class-r0 && " ${sizes[*]} " == *" $n "* ]]; then echo storm room; fi
  if [[ " ${flood_sizes[*]} " == *" $n "* ]]; then echo flood; fi
}
all_sizes=$(printf '%s\n' "${sizes[@]}" "${flood_sizes[@]}" | sort -nu | tr '\n' ' ')
say "${sizes[*]} clients, $rounds rounds, ${relay}s of typing per run ($typers typers, $lines_in_flight lines in flight); flood at ${flood_sizes[*]:-none} (${flood_seconds}s, $talkers talkers every ${talk_ms} ms): ${servers[*]}"
for ((round = 1; round <= rounds; ++round)); do
  for n in $all_sizes; do
    order=("${servers[@]}")
    if (((round + n) % 2 == 0)); then  # the other way round, every other time
      order=()
      for ((i = ${#servers[@]} - 1; i >= 0; --i)); do order+=("${servers[i]}"); done
    fi
    line="round $round, $n clients:"
    for name in "${order[@]}"; do
      for kind in $(kinds "$name" "$n"); do
        if [[ -n ${failed[$name,$kind,$n]-} ]]; then
          line+=" $name $kind (failed before)"
          continue
        fi
        run "$name" "$kind" "$n" "$round"
        [[ $status == ok ]] || failed[$name,$kind,$n]=1
        line+=" $name $kind $status"
      done
    done
    say "$line"
  done
done

# --- The report. --------------------------------------------------------------------
# stage6-class's default rate, as its -h says it: the -r option's lines.
rate_text() {
  if ((${#unlimited[@]} == 0)); then
    echo "none (no -r)"
  else
    awk '/^ *-r / { on = 1 } on && /^ *-/ && !/^ *-r / { exit } on' <<<"$help" |
      tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
  fi
}
header="$started, $(nproc 2>/dev/null || echo '?') CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)), $(uname -sr), load average before: $load_before; ${relay}s of typing per run, $typers typers, $lines_in_flight lines in flight, storm budget ${storm_budget}s, room budget ${room_budget}s; flood: ${flood_seconds}s of $talkers talkers, a line every ${talk_ms} ms each; stage6-class's default rate: $(rate_text); $(ncat --version 2>&1 | head -n 1 || true)"
if [[ -n $out ]]; then
  cp "$runs" "${out%.md}-runs.txt"
  python3 "$here/chat_report.py" --header "$header" "${out%.md}-runs.txt" | tee "$out"
else
  python3 "$here/chat_report.py" --header "$header" "$runs"
fi
if [[ -n $plot ]]; then
  if command -v gnuplot >/dev/null 2>&1; then
    python3 "$here/chat_report.py" --tsv "$work" "$runs"
    # (gnuplot warns of a column with no point, ncat's storm, say: not news)
    if gnuplot -e "dir='$work'; out='$plot'" "$here/chat.gnu" 2>"$work/gnuplot.err"; then
      say "wrote $plot"
    else
      say "gnuplot failed: $(head -c 300 "$work/gnuplot.err")"
    fi
  else
    say "no plot: gnuplot is needed (Debian: gnuplot-nox)"
  fi
fi
