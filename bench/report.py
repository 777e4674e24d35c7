#!/usr/bin/env python3
"""report.py: turn copy_loop_bench's JSON into tables and plot data.

Purpose: reads bench/results/copy-loop.json (written by `make bench`) and
prints Markdown tables: per transport and direction, the median throughput
of each loop at each buffer size (duplex and blocking from their paired
runs), duplex's ratio to the blocking loop, and duplex's syscalls, polls and
sleeps per MiB; then duplex at each size relative to stage 3's default. Or writes the same as columns for
gnuplot (bench/plot.sh).

Usage: bench/report.py [--tsv DIR] [results.json]
  --tsv DIR  write the plot data for bench/plot.gnu into DIR instead
See also: bench/plot.sh, docs/benchmarks.md, bench/copy_loop_bench.cpp.
"""
import json
import os
import sys
from collections import defaultdict

MIB = 1024 * 1024
LOOPS = ("duplex", "blocking", "splice")
ORDER = [("unix", "one_way"), ("tcp", "one_way"), ("unix", "both_ways"), ("tcp", "both_ways")]


def load(path):
    """{(transport, mode): {size: {loop: benchmark row}}}, medians when repeated.

    loop is duplex, blocking, splice, or paired (duplex and blocking in turns,
    whose duplex_ratio is the comparison to trust on a busy machine).
    """
    with open(path) as f:
        data = json.load(f)
    rows = data["benchmarks"]
    medians = [r for r in rows if r.get("aggregate_name") == "median"]
    if medians:
        rows = medians
    table = defaultdict(lambda: defaultdict(dict))
    sizes = {}
    for r in rows:
        if r.get("error_occurred"):
            continue
        parts = r["run_name"].split("/")
        if parts[2] == "sizes":
            sizes[(parts[0], parts[1])] = r
        else:
            table[(parts[0], parts[1])][int(parts[3])][parts[2]] = r
    return data["context"], {k: table[k] for k in ORDER if k in table}, sizes


def rotation(sizes):
    """{size: {(transport, mode): (speed ratio, cpu ratio)}} from the sizes benchmarks."""
    out = defaultdict(dict)
    for key, row in sizes.items():
        for name, value in row.items():
            if name.startswith("speed_at_"):
                size = int(name[len("speed_at_"):])
                out[size][key] = (value, row.get(f"cpu_at_{size}"))
    return dict(sorted(out.items()))


def human(size):
    for unit, scale in (("MiB", MIB), ("KiB", 1024)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} B"


def mibps(row):
    return row["bytes_per_second"] / MIB if row else None


def throughputs(loops):
    """MiB/s of duplex, blocking and splice at one size. duplex and blocking
    come from the paired runs when there are some (twice the runs of the
    single-loop benchmarks, each next to the other: less noise)."""
    paired = loops.get("paired")
    if paired and "duplex_bytes_per_second" in paired:
        d = paired["duplex_bytes_per_second"] / MIB
        b = paired["blocking_bytes_per_second"] / MIB
    else:
        d, b = mibps(loops.get("duplex")), mibps(loops.get("blocking"))
    return d, b, mibps(loops.get("splice"))


def fmt(value, digits=0):
    return "" if value is None else f"{value:,.{digits}f}"


def speed(value):
    """MiB/s: whole numbers, but two decimals below 10 (1-byte buffers)."""
    return fmt(value, 2 if value is not None and value < 10 else 0)


def print_tables(context, table):
    print(f"<!-- {context.get('date', '')}, {context.get('num_cpus', '?')} CPUs, "
          f"{context.get('mhz_per_cpu', '?')} MHz -->")
    for (transport, mode), by_size in table.items():
        print(f"\n#### {transport}, {mode.replace('_', ' ')}\n")
        print("duplex and blocking: MiB/s in the paired runs; splice: its own runs.\n")
        print("| buffer | duplex MiB/s | blocking MiB/s | splice MiB/s "
              "| duplex / blocking, paired | CPU per byte, blocking / duplex "
              "| duplex syscalls/MiB | polls/MiB | sleeps/MiB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for size in sorted(by_size):
            loops = by_size[size]
            d, b, s = throughputs(loops)
            dup = loops.get("duplex", {})
            paired = loops.get("paired", {})
            print(f"| {human(size)} | {speed(d)} | {speed(b)} | {speed(s)} "
                  f"| {fmt(paired.get('duplex_ratio'), 2)} | {fmt(paired.get('duplex_cpu_ratio'), 2)} "
                  f"| {fmt(dup.get('syscalls_per_MiB'), 1)} | {fmt(dup.get('polls_per_MiB'), 1)} "
                  f"| {fmt(dup.get('sleeps_per_MiB'), 2)} |")


def print_rotation(sizes):
    by_size = rotation(sizes)
    if not by_size:
        return
    keys = [k for k in ORDER if k in sizes]
    reference = human(int(reference_size(sizes)))
    print(f"\n#### duplex at each buffer size, relative to {reference}, stage 3's default (same pass)\n")
    print("Throughput ratio, and in brackets bytes per CPU-second ratio.\n")
    print("| buffer | " + " | ".join(f"{t}, {m.replace('_', ' ')}" for t, m in keys) + " |")
    print("|---:|" + "---:|" * len(keys))
    for size, values in by_size.items():
        cells = []
        for k in keys:
            speed, cpu = values.get(k, (None, None))
            cells.append(f"{fmt(speed, 2)} ({fmt(cpu, 2)})")
        print(f"| {human(size)} | " + " | ".join(cells) + " |")


def reference_size(sizes):
    """The buffer size the sizes benchmarks compare with: stage 3's default."""
    for row in sizes.values():
        return row.get("reference_buffer_bytes", 131072)
    return 131072


def write_tsv(directory, table, sizes):
    """For gnuplot: TRANSPORT_MODE.tsv (size, then MiB/s of duplex, blocking,
    splice; NaN when absent), paired.tsv (size, then duplex / blocking) and
    sizes.tsv (size, then duplex's speed relative to stage 3's default), one
    column per ORDER entry in the last two. Prints the default's size, which
    plot.gnu marks."""
    for (transport, mode), by_size in table.items():
        with open(os.path.join(directory, f"{transport}_{mode}.tsv"), "w") as f:
            f.write("# size duplex blocking splice (MiB/s)\n")
            for size in sorted(by_size):
                values = throughputs(by_size[size])
                f.write(" ".join([str(size)] + ["NaN" if v is None else f"{v:.2f}" for v in values]))
                f.write("\n")
    with open(os.path.join(directory, "paired.tsv"), "w") as f:
        f.write("# size " + " ".join(f"{t}_{m}" for t, m in ORDER) + " (duplex / blocking, paired)\n")
        all_sizes = sorted({size for by_size in table.values() for size in by_size})
        for size in all_sizes:
            cells = [table.get(k, {}).get(size, {}).get("paired", {}).get("duplex_ratio") for k in ORDER]
            f.write(" ".join([str(size)] + ["NaN" if v is None else f"{v:.3f}" for v in cells]))
            f.write("\n")
    with open(os.path.join(directory, "sizes.tsv"), "w") as f:
        f.write("# size " + " ".join(f"{t}_{m}" for t, m in ORDER) + " (speed / speed at default)\n")
        for size, values in rotation(sizes).items():
            cells = [values.get(k, (None, None))[0] for k in ORDER]
            f.write(" ".join([str(size)] + ["NaN" if v is None else f"{v:.3f}" for v in cells]))
            f.write("\n")
    print(int(reference_size(sizes)))


def main(argv):
    tsv_dir = None
    if argv[:1] == ["--tsv"]:
        if len(argv) < 2:
            sys.exit("usage: report.py [--tsv DIR] [results.json]")
        tsv_dir, argv = argv[1], argv[2:]
    context, table, sizes = load(argv[0] if argv else "bench/results/copy-loop.json")
    if tsv_dir:
        write_tsv(tsv_dir, table, sizes)
    else:
        print_tables(context, table)
        print_rotation(sizes)


if __name__ == "__main__":
    main(sys.argv[1:])
