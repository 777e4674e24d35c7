# chat.gnu: stage6-class against ncat --chat as the room grows, as an SVG.
#
# Purpose: draws what `make bench-chat` measured (through
# bench/chat_report.py's columns), against the number of clients (log
# scale): the server's CPU time per delivered line, the time for everyone
# to join at once, delivered lines per second, RSS per idle client, and
# the p99 latency of the other clients' lines while one client floods.
# A point missing for ncat is a run that did not finish in its budget.
# gnuplot only draws: the tables in bench/results/chat.md need python3
# alone, and without gnuplot bench/chat.sh writes them and skips this.
# Usage: bench/chat.sh, which runs
#   gnuplot -e "dir='COLUMNS'; out='FILE.svg'" bench/chat.gnu
# See also: docs/benchmarks.md, bench/chat_report.py, bench/chat_load.cpp.

set terminal svg size 900,1650 dynamic enhanced font "sans,13" background "white"
set output out
set datafile missing "NaN"
set key top left box opaque
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set logscale x 10
set xrange [7:14000]
set xtics ("10" 10, "100" 100, "300" 300, "1,000" 1000, "10,000" 10000)
set xlabel "clients in the room (log scale)"
set logscale y 10
set format y "%g"

ours = "#1f77b4"
ncat = "#d62728"

set multiplot layout 5,1 title "One poll() loop, many clients: stage6-class against ncat --chat (medians)" font ",15"

set title "Server CPU time per delivered line (ten typers in turn)"
set ylabel "µs per line received"
plot dir."/cost.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb ours title "stage6-class", \
     ""              using 1:3 with linespoints lw 2 pt 5 lc rgb ncat title "ncat --chat"

# Below the panel, in one row: inside, the legend would hide a point
# (stage6-class rises from corner to corner, ncat's over-budget marks line
# the top). The x label makes way for it: the axis is the same as above.
set key outside below center horizontal samplen 2 box
unset xlabel
set title "Everyone connects at once: time until each client has its first byte"
set ylabel "seconds"
plot dir."/storm.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb ours title "stage6-class", \
     ""               using 1:($3) with linespoints lw 2 pt 5 lc rgb ncat title "ncat --chat", \
     ""               using 1:4 with points pt 9 ps 1.5 lc rgb ncat title "ncat: not all in by the budget"

set key inside vertical bottom right samplen 4
set xlabel "clients in the room (log scale)"
set title "Lines delivered per second, all receivers together"
set ylabel "lines/s"
set format y "%.0s%c"
plot dir."/rate.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb ours title "stage6-class", \
     ""              using 1:3 with linespoints lw 2 pt 5 lc rgb ncat title "ncat --chat"

set format y "%g"
set title "Server RSS per idle client (after joining, minus before)"
set ylabel "bytes per client"
set key top right
plot dir."/rss.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb ours title "stage6-class", \
     ""             using 1:3 with linespoints lw 2 pt 5 lc rgb ncat title "ncat --chat", \
     8192 with lines dt 2 lc rgb "#555555" title "target: 8 KiB"

set title "While one client floods the room (as yes | nc does): p99 latency of the others' lines"
set ylabel "ms"
set key top right  # the flood runs at up to 300 clients: the right is empty
plot dir."/flood.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb ours title "stage6-class, default -r", \
     ""               using 1:3 with linespoints lw 2 pt 6 dt 2 lc rgb ours title "stage6-class -r 0", \
     ""               using 1:4 with linespoints lw 2 pt 5 lc rgb ncat title "ncat --chat"

unset multiplot
