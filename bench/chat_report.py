#!/usr/bin/env python3
"""chat_report.py: tables and plot columns from bench/chat.sh's runs.

Purpose: reads the runs file bench/chat.sh writes (one line per run of
bench/chat_load: `server=... kind=storm|room round=R KEY=VALUE...`) and
prints Markdown: for each measure, a table of the number of clients against
both servers (medians over rounds) and the ratio between them (the median
of the ratios taken within each round, and only where both figures could be
measured), then the flood's tables (stage6-class with its default -r RATE,
with -r 0 as stage6-class-r0, and ncat), then the targets, measured.
With --tsv DIR, writes the columns bench/chat.gnu plots instead.

Usage: bench/chat_report.py [--header TEXT] [--tsv DIR] RUNS
See also: bench/chat.sh, bench/chat_load.cpp, bench/chat.gnu, docs/benchmarks.md.
"""
import os
import statistics
import sys
from collections import defaultdict

SERVERS = ("stage6-class", "ncat")
FLOOD_SERVERS = ("stage6-class", "stage6-class-r0", "ncat")
OK = "ok"
# A figure that exists but is too coarse to give: shown as n/a, and no ratio.
NA = "n/a"
# /proc counts CPU time in clock ticks of 10 ms: below this many seconds,
# one tick more or less changes a figure by over 20%.
CPU_FLOOR_S = 0.05


def load(path):
    """{(server, kind, clients): {round: {key: value}}}."""
    runs = defaultdict(dict)
    with open(path) as f:
        for line in f:
            fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
            if "server" not in fields or "clients" not in fields:
                continue
            key = (fields["server"], fields["kind"], int(fields["clients"]))
            runs[key][int(fields["round"])] = fields
    return runs


def number(run, key):
    try:
        value = float(run[key])
    except (KeyError, ValueError):
        return None
    return None if value < 0 else value


def cpu_per_line(run):
    """The server's CPU per delivered line, or NA when its CPU time was too few ticks."""
    cpu, per_line = number(run, "cpu_relay_s"), number(run, "cpu_per_line_us")
    if cpu is None or per_line is None:
        return None
    return per_line if cpu >= CPU_FLOOR_S else NA


def idle_bytes_per_client(run):
    base, idle = number(run, "rss_base_kib"), number(run, "rss_idle_kib")
    if base is None or idle is None:
        return None
    return (idle - base) * 1024 / int(run["clients"])


# Each measure: title, kind of run, how to get the value, unit, format, and
# which way is better (ratio = ncat / stage6 when lower is better).
MEASURES = [
    ("Joining at once (storm): seconds until every client has its first byte", "storm",
     lambda r: number(r, "join_s"), "s", "{:.3f}", "lower"),
    ("Filling the room for relaying (stage6-class: everyone at once; ncat: 8 at a time, as its "
     "backlog of 10 allows): seconds", "room",
     lambda r: number(r, "join_s"), "s", "{:.3f}", "lower"),
    ("Relaying: lines delivered per second (all receivers), ten typers in turn", "room",
     lambda r: number(r, "lines_per_s"), "lines/s", "{:,.0f}", "higher"),
    ("Delivery latency, p50 (ms)", "room",
     lambda r: none_or(number(r, "p50_us"), lambda v: v / 1000), "ms", "{:.2f}", "lower"),
    ("Delivery latency, p99 (ms)", "room",
     lambda r: none_or(number(r, "p99_us"), lambda v: v / 1000), "ms", "{:.2f}", "lower"),
    ("Server CPU time per delivered line (µs)", "room", cpu_per_line, "µs", "{:.2f}", "lower"),
    ("Server RSS per idle client (bytes; VmRSS after joining minus before, over N)", "room",
     idle_bytes_per_client, "B", "{:,.0f}", "lower"),
    ("Server peak RSS, VmHWM (KiB)", "room",
     lambda r: number(r, "hwm_kib"), "KiB", "{:,.0f}", "lower"),
    ("One poll() over every idle client, as the server's loop pays on every pass (µs, "
     "measured in the generator)", "room", lambda r: number(r, "scan_us"), "µs", "{:,.1f}", None),
    ("Relay lines per read() at the receivers (how many lines the server's TCP sent together)",
     "room", lambda r: number(r, "lines_per_read"), "", "{:.1f}", None),
    ("Load generator's CPU share while relaying (near 1: the generator, not the server, set the pace)",
     "room", lambda r: number(r, "load_cpu_share"), "", "{:.2f}", None),
]


# Footnotes for the n/a cells of a measure, by title.
NOTES = {
    "Server CPU time per delivered line (µs)":
        f"n/a: the server used under {CPU_FLOOR_S:.2f} s of CPU while the lines were typed, "
        f"fewer than {CPU_FLOOR_S / 0.01:.0f} of /proc's 10 ms clock ticks: too coarse to give a "
        "figure per line, or a ratio.",
}

# The flood: one client floods as `yes | nc` does, a few talk; each
# measure as above, the servers FLOOD_SERVERS.
FLOOD_MEASURES = [
    ("Under a flood: delivery latency of the other clients' lines, p50 (ms)", "flood",
     lambda r: none_or(number(r, "p50_us"), lambda v: v / 1000), "ms", "{:.2f}", "lower"),
    ("Under a flood: delivery latency of the other clients' lines, p99 (ms)", "flood",
     lambda r: none_or(number(r, "p99_us"), lambda v: v / 1000), "ms", "{:.2f}", "lower"),
    ("Under a flood: the slowest of the other clients' lines (ms)", "flood",
     lambda r: none_or(number(r, "max_us"), lambda v: v / 1000), "ms", "{:.1f}", "lower"),
    ("Under a flood: the flooder's lines reaching each other client, per second", "flood",
     lambda r: number(r, "flood_per_screen_per_s"), "lines/s", "{:,.0f}", None),
    ("Under a flood: clients the server dropped (closed), out of all but the flooder", "flood",
     lambda r: number(r, "closed"), "", "{:.0f}", None),
    ("Under a flood: server peak RSS, VmHWM (KiB)", "flood",
     lambda r: number(r, "hwm_kib"), "KiB", "{:,.0f}", None),
    ("Under a flood: server CPU time during the flood (s)", "flood",
     lambda r: number(r, "cpu_flood_s"), "s", lambda v: "< 0.01" if v < 0.01 else f"{v:.2f}", None),
]


def none_or(value, f):
    return None if value is None else f(value)


def values(runs, server, kind, n, get):
    """{round: value} of the runs that finished with a figure."""
    out = {}
    for rnd, run in runs.get((server, kind, n), {}).items():
        if run.get("status") == OK:
            v = get(run)
            if v is not None and v is not NA:
                out[rnd] = v
    return out


def unmeasurable(runs, server, kind, n, get):
    """True when runs finished but none gave a figure fine enough to show."""
    return any(r.get("status") == OK and get(r) is NA
               for r in runs.get((server, kind, n), {}).values())


def failure(runs, server, kind, n):
    """A short text for a measure that never finished, else None."""
    rounds = runs.get((server, kind, n), {})
    if not rounds or any(r.get("status") == OK for r in rounds.values()):
        return None
    run = rounds[min(rounds)]
    status = run.get("status", "?")
    if status == "skipped":
        return "skipped: " + run.get("note", "").replace("_", " ")
    text = f"{status.replace('_', ' ')}: {run.get('joined', '?')} of {n} in"
    if status == "join_timeout":
        text = f"over {float(run.get('join_s', 0)):.0f} s: {run.get('joined', '?')} of {n} in"
    if run.get("note") == "ncat_FD_SETSIZE":
        text += ", ncat aborted (fd ≥ FD_SETSIZE)"
    elif run.get("server_alive") == "0":
        text += ", server gone"
    return text


def median(xs):
    return statistics.median(xs) if xs else None


def ratio_median(a, b, lower):
    """Median over rounds present in both of stage6's advantage: b/a when
    lower is better, a/b when higher is. Only figures above zero: a zero
    (a time under the clock's step) makes no ratio."""
    ratios = []
    for rnd in a.keys() & b.keys():
        x, y = a[rnd], b[rnd]
        if x > 0 and y > 0:
            ratios.append(y / x if lower else x / y)
    return median(ratios)


def sizes_of(runs):
    return sorted({n for (_, _, n) in runs})


def cell(runs, server, kind, n, get, fmt, first=True):
    """The median, or why there is none (in full in a kind's first table)."""
    v = median(list(values(runs, server, kind, n, get).values()))
    if v is not None:
        return fmt(v) if callable(fmt) else fmt.format(v)
    if unmeasurable(runs, server, kind, n, get):
        return NA
    why = failure(runs, server, kind, n)
    return (why if first else "no full room") if why else ""


def print_tables(runs, header):
    servers = [s for s in SERVERS if any(k[0] == s for k in runs)]
    print("<!-- Written by bench/chat.sh (make bench-chat); see docs/benchmarks.md. -->")
    if header:
        print(header)
        print()
    print("Medians over rounds; each ratio is stage6-class's advantage (how many times better),")
    print("the median of the ratios taken within each round, where both figures were measured.")
    print("Runs: chat-runs.txt beside this file.")
    seen = set()
    for measure in MEASURES:
        print_table(runs, servers, measure, measure[1] not in seen)
        seen.add(measure[1])
    flood_servers = [s for s in FLOOD_SERVERS if (s, "flood") in {k[:2] for k in runs}]
    if flood_servers:
        print("\n## Under a flood\n")
        print("One client floods the room as `yes | nc` does (2-byte lines, as fast as TCP takes")
        print("them) while a few others each send a timestamped line every so often; their lines")
        print(f"are timed at every other client. Servers: {flood_names(runs, flood_servers)}.")
        print("The ratio compares stage6-class as it runs by default with ncat.")
        for i, measure in enumerate(FLOOD_MEASURES):
            print_table(runs, flood_servers, measure, i == 0, ratio_of=("stage6-class", "ncat"))
    print_problems(runs)
    print_targets(runs)


def flood_names(runs, servers):
    """What each flood column ran: stage6-class's rate as chat.sh gave it."""
    names = []
    for s in servers:
        rates = {r.get("rate") for (srv, kind, _), rounds in runs.items()
                 if srv == s and kind == "flood" for r in rounds.values()}
        rate = next(iter(rates)) if len(rates) == 1 else None
        if rate == "default":
            names.append(f"{s} (its default -r RATE: flood control)")
        elif rate == "0":
            names.append(f"{s} (-r 0: no flood control)")
        elif rate == "none":
            names.append(f"{s} (a build without -r: no flood control)")
        else:
            names.append(s)
    return ", ".join(names)


def print_table(runs, servers, measure, first, ratio_of=None):
    """One measure: a row per number of clients, a column per server, and
    stage6-class's advantage over ncat where both were measured."""
    title, kind, get, _unit, fmt, better = measure
    ratio_of = ratio_of or tuple(servers)
    sizes = [n for n in sizes_of(runs) if any((s, kind, n) in runs for s in servers)]
    print(f"\n### {title}\n")
    cols = " | ".join(servers)
    show_ratio = better is not None and len(ratio_of) == 2 and all(s in servers for s in ratio_of)
    print(f"| clients | {cols} |" + (" stage6-class's advantage |" if show_ratio else ""))
    print("|---:|" + "---:|" * len(servers) + ("---:|" if show_ratio else ""))
    any_na = False
    for n in sizes:
        cells = [cell(runs, s, kind, n, get, fmt, first) for s in servers]
        any_na = any_na or NA in cells
        row = f"| {n:,} | " + " | ".join(cells) + " |"
        if show_ratio:
            a, b = (values(runs, s, kind, n, get) for s in ratio_of)
            q = ratio_median(a, b, better == "lower")
            if q is not None:
                row += f" {q:.1f}x |"
            else:
                unmeasured = any(unmeasurable(runs, s, kind, n, get) for s in ratio_of)
                row += f" {NA} |" if unmeasured else " |"
        print(row)
    if any_na and title in NOTES:
        print(f"\n{NOTES[title]}")


def print_problems(runs):
    lines = []
    for (server, kind, n), rounds in sorted(runs.items()):
        for rnd, run in sorted(rounds.items()):
            keys = ("lost", "unheard", "closed", "garbled", "out_of_order", "unnamed")
            notes = [f"{k} {run[k]}" for k in keys if run.get(k, "0") not in ("0", "")]
            if run.get("status") != OK:
                notes.insert(0, run.get("status", "?"))
            if notes:
                lines.append(f"- {server}, {kind}, {n:,} clients, round {rnd}: " + ", ".join(notes))
    print("\n### What went wrong\n")
    print("lost: lines not received by every other client; closed: clients the server closed")
    print("(under a flood: dropped as not reading); unheard: talkers' lines that had not reached")
    print("every client still connected when the flood's budget ended; unnamed: lines that arrived")
    print("without `<NAME> ` (ncat names each read(), not each line).\n")
    print("\n".join(lines) if lines else "Nothing: every run finished, every line reached every client.")


def print_targets(runs):
    s5, nc = SERVERS
    print("\n### The targets\n")
    # 1. At 300 clients: joining plus relaying, 10x.
    n = 300
    storm = lambda r: number(r, "join_s")
    rate = lambda r: number(r, "lines_per_s")
    j5 = median(list(values(runs, s5, "storm", n, storm).values()))
    jn = median(list(values(runs, nc, "storm", n, storm).values()))
    r5 = median(list(values(runs, s5, "room", n, rate).values()))
    rn = median(list(values(runs, nc, "room", n, rate).values()))
    if j5 is not None and r5:
        lines = 100 * (n - 1)
        t5 = j5 + lines / r5
        text = (f"- **300 clients, joining plus relaying, 10x ncat --chat**: stage6-class lets 300 in at once in "
                f"{j5:.3f} s and relays {r5:,.0f} lines/s, so the class joining and 100 lines typed "
                f"(29,900 deliveries) take {t5:.3f} s")
        if (nc, "storm", n) not in runs:
            text += "; ncat was not measured."
        elif jn is not None and rn:
            tn = jn + lines / rn
            text += f"; ncat: {jn:.3f} s and {rn:,.0f} lines/s, {tn:.3f} s: **{tn / t5:.0f}x**."
        else:
            bound = max((float(r.get("join_s", 0)) for r in runs[(nc, "storm", n)].values()), default=0)
            text += (f"; ncat did not let 300 in at once within {bound:.0f} s "
                     f"({failure(runs, nc, 'storm', n) or '?'}): **over {bound / t5:.0f}x**")
            text += "."
        f5 = median(list(values(runs, s5, "room", n, storm).values()))
        fn = median(list(values(runs, nc, "room", n, storm).values()))
        if f5 is not None and fn is not None and rn:
            t5, tn = f5 + lines / r5, fn + lines / rn
            text += (f" With ncat's room filled 8 at a time (its backlog is 10), filling plus the same"
                     f" 100 lines take {tn:.3f} s against stage6-class's {t5:.3f} s: **{tn / t5:.1f}x**"
                     f" (relaying alone: {r5 / rn:.1f}x the lines per second).")
        print(text)
    # 2. 10,000 clients in one process.
    n = 10000
    rounds = runs.get((s5, "room", n), {})
    if rounds:
        ok = [r for r in rounds.values() if r.get("status") == OK]
        print(f"- **10,000 clients served by one process**: {len(ok)} of {len(rounds)} rounds "
              f"finished with every line at every client"
              + (f" (storm: {cell(runs, s5, 'storm', n, storm, '{:.2f}')} s to let all in)." if ok else "."))
    # 3. Memory per idle client.
    per = {n: median(list(values(runs, s5, "room", n, idle_bytes_per_client).values()))
           for n in sizes_of(runs)}
    shown = ", ".join(f"{v:,.0f} B at {n:,}" for n, v in per.items() if v is not None and n >= 100)
    if shown:
        print(f"- **server RSS under 8 KiB per idle client**: {shown}.")
    # 4. Cost per delivered line from 100 to 10,000.
    cost = lambda r: number(r, "cpu_per_line_us")
    c = {n: median(list(values(runs, s5, "room", n, cost).values())) for n in sizes_of(runs)}
    if c.get(100) and c.get(10000):
        print(f"- **cost per delivered line roughly flat from 100 to 10,000 clients**: "
              + ", ".join(f"{v:.2f} µs at {n:,}" for n, v in c.items() if v is not None)
              + f"; 10,000 / 100: {c[10000] / c[100]:.2f}.")


def write_tsv(directory, runs):
    """One file per plotted measure: clients, then stage6-class and ncat (NaN when absent)."""
    plotted = {"cost": MEASURES[5], "storm": MEASURES[0], "rate": MEASURES[2], "rss": MEASURES[6],
               "p99": MEASURES[4]}
    for name, (_title, kind, get, _unit, _fmt, _better) in plotted.items():
        with open(os.path.join(directory, f"{name}.tsv"), "w") as f:
            f.write("# clients " + " ".join(SERVERS) + " ncat_over_budget\n")
            for n in sizes_of(runs):
                row = [median(list(values(runs, s, kind, n, get).values())) for s in SERVERS]
                row.append(over_budget(runs, "ncat", kind, n) if name == "storm" else None)
                f.write(f"{n} " + " ".join("NaN" if v is None else f"{v:.6g}" for v in row) + "\n")
    _title, kind, get, *_ = FLOOD_MEASURES[1]  # p99 under a flood
    with open(os.path.join(directory, "flood.tsv"), "w") as f:
        f.write("# clients " + " ".join(FLOOD_SERVERS) + "\n")
        for n in sizes_of(runs):
            if not any((s, kind, n) in runs for s in FLOOD_SERVERS):
                continue
            row = [median(list(values(runs, s, kind, n, get).values())) for s in FLOOD_SERVERS]
            f.write(f"{n} " + " ".join("NaN" if v is None else f"{v:.6g}" for v in row) + "\n")


def over_budget(runs, server, kind, n):
    """The time a join ran before its budget ended, when it never finished: a lower bound."""
    rounds = runs.get((server, kind, n), {})
    if not rounds or any(r.get("status") == OK for r in rounds.values()):
        return None
    times = [number(r, "join_s") for r in rounds.values() if r.get("status") == "join_timeout"]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def main(argv):
    header, tsv = "", None
    while argv[:1] in (["--header"], ["--tsv"]):
        if len(argv) < 2:
            sys.exit(__doc__)
        if argv[0] == "--header":
            header = argv[1]
        else:
            tsv = argv[1]
        argv = argv[2:]
    if len(argv) != 1:
        sys.exit(__doc__)
    runs = load(argv[0])
    if tsv:
        write_tsv(tsv, runs)
    else:
        print_tables(runs, header)


if __name__ == "__main__":
    main(sys.argv[1:])
