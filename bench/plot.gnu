# plot.gnu: throughput of the copy loops against buffer size, as an SVG.
#
# Purpose: draws what `make bench` measured (through bench/report.py's
# columns): one way and both ways, duplex (stage 3's loop) against the
# blocking loop and splice, over AF_UNIX and TCP; duplex over blocking,
# measured in turns (what poll costs); duplex at each size relative to
# stage 3's default, measured in turns.
# Usage: bench/plot.sh, which runs
#   gnuplot -e "dir='COLUMNS'; out='FILE.svg'; default=131072" bench/plot.gnu
# See also: docs/benchmarks.md, bench/report.py, bench/copy_loop_bench.cpp.

set terminal svg size 900,1650 dynamic enhanced font "sans,13" background "white"
set output out
set datafile missing "NaN"
set key top left box opaque
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set logscale x 2
set xrange [1:1048576]
set xtics ("1 B" 1, "4 B" 4, "16 B" 16, "64 B" 64, "256 B" 256, "1 KiB" 1024, \
           "4 KiB" 4096, "16 KiB" 16384, "64 KiB" 65536, "256 KiB" 262144, "1 MiB" 1048576)
set xlabel "buffer size (bytes per read and write)"

unix = "#1f77b4"
tcp = "#d62728"
if (!exists("default")) default = 131072  # stage 3's buffer size
nc_buffer = 16384

set multiplot layout 4,1 title "Copy loops on this machine: throughput against buffer size (medians)" font ",15"

# The buffer sizes to remember: stage 3's default and nc's.
set arrow 1 from default, graph 0 to default, graph 1 nohead dt 2 lc rgb "#555555"
set label 1 sprintf("stage 3: %d KiB", default / 1024) at default, graph 0.06 right offset -0.5,0 font ",11"
set arrow 2 from nc_buffer, graph 0 to nc_buffer, graph 1 nohead dt 3 lc rgb "#999999"
set label 2 "nc: 16 KiB" at nc_buffer, graph 0.06 right offset -0.5,0 font ",11"

set logscale y 10
set yrange [0.1:20000]
set format y "%g"
set ylabel "MiB/s (log scale)"

set title "One way: file -> loop -> socket -> reader (duplex and blocking: their paired runs)"
plot dir."/unix_one_way.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb unix title "AF\\_UNIX duplex (poll)", \
     ""                      using 1:3 with linespoints lw 1 pt 6 dt 2 lc rgb unix title "AF\\_UNIX blocking", \
     ""                      using 1:4 with linespoints lw 1 pt 4 dt 3 lc rgb unix title "AF\\_UNIX splice", \
     dir."/tcp_one_way.tsv"  using 1:2 with linespoints lw 2 pt 5 lc rgb tcp title "TCP duplex (poll)", \
     ""                      using 1:3 with linespoints lw 1 pt 6 dt 2 lc rgb tcp title "TCP blocking", \
     ""                      using 1:4 with linespoints lw 1 pt 4 dt 3 lc rgb tcp title "TCP splice"

set title "Both ways at once (blocking: one thread per direction)"
plot dir."/unix_both_ways.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb unix title "AF\\_UNIX duplex (poll)", \
     ""                        using 1:3 with linespoints lw 1 pt 6 dt 2 lc rgb unix title "AF\\_UNIX blocking, 2 threads", \
     dir."/tcp_both_ways.tsv"  using 1:2 with linespoints lw 2 pt 5 lc rgb tcp title "TCP duplex (poll)", \
     ""                        using 1:3 with linespoints lw 1 pt 6 dt 2 lc rgb tcp title "TCP blocking, 2 threads"

unset logscale y
set yrange [0:1.25]
set format y "%.1f"
set ylabel "duplex / blocking"
set key bottom right
set label 1 at default, graph 0.94
set label 2 at nc_buffer, graph 0.94
set title "What poll() costs: duplex's throughput over the blocking loop's, run in turns (paired)"
plot dir."/paired.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb unix title "AF\\_UNIX, one way", \
     ""                using 1:4 with linespoints lw 1 pt 6 dt 2 lc rgb unix title "AF\\_UNIX, both ways (blocking: 2 threads)", \
     ""                using 1:3 with linespoints lw 2 pt 5 lc rgb tcp title "TCP, one way", \
     ""                using 1:5 with linespoints lw 1 pt 4 dt 2 lc rgb tcp title "TCP, both ways (blocking: 2 threads)", \
     1 with lines lc rgb "#555555" dt 2 notitle

set yrange [0:*]
set ylabel sprintf("throughput / throughput at %d KiB", default / 1024)
set xrange [2048:2097152]
set title sprintf("duplex alone, each size against %d KiB (stage 3's) in the same pass; medians of many passes", default / 1024)
plot dir."/sizes.tsv" using 1:2 with linespoints lw 2 pt 7 lc rgb unix title "AF\\_UNIX, one way", \
     ""               using 1:4 with linespoints lw 1 pt 6 dt 2 lc rgb unix title "AF\\_UNIX, both ways", \
     ""               using 1:3 with linespoints lw 2 pt 5 lc rgb tcp title "TCP, one way", \
     ""               using 1:5 with linespoints lw 1 pt 4 dt 2 lc rgb tcp title "TCP, both ways", \
     1 with lines lc rgb "#555555" dt 2 notitle

unset multiplot
