#!/usr/bin/env bash
# plot.sh: draw docs/bench-buffer-size.svg from make bench's JSON.
#
# Purpose: bench/report.py turns the JSON into columns, gnuplot draws them
# (bench/plot.gnu): throughput against buffer size for every loop, and
# duplex at each size relative to 128 KiB. Needs python3 and gnuplot
# (Debian: gnuplot-nox).
# Usage: bench/plot.sh [RESULTS.json [OUT.svg]]
#   defaults: bench/results/copy-loop.json, docs/bench-buffer-size.svg
# See also: docs/benchmarks.md, bench/report.py (the same data as tables).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
json=${1:-$here/results/copy-loop.json}
svg=${2:-$here/../docs/bench-buffer-size.svg}
for tool in python3 gnuplot; do
  command -v "$tool" >/dev/null || { echo "plot.sh: $tool is needed" >&2; exit 1; }
done
columns=$(mktemp -d "${TMPDIR:-/tmp}/plot.XXXXXX")
trap 'rm -rf "$columns"' EXIT
default=$(python3 "$here/report.py" --tsv "$columns" "$json")  # stage 3's buffer size
gnuplot -e "dir='$columns'; out='$svg'; default=$default" "$here/plot.gnu"
echo "plot.sh: wrote $svg" >&2
