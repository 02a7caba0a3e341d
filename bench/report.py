"""bench/report.py: what bench/run.sh calls once every program has run.

Reads each program's stdout (DIR/NAME.out, in the order of DIR/order),
checks every line against the output contract, prints one table a
benchmark with the ratio to its baseline, the issue's targets as PASS or
MISS, writes the JSON results and the chart (gnuplot, SVG). Exits 1 if a
program failed (DIR/failed) or broke the contract; what was measured is
written all the same.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

BENCHES = [
    ("rt", 'round trip of {"msg": n}, listen callbacks on both sides'),
    ("fd_rt", 'round trip of {"msg": n, "fd": h}, a descriptor passed '
     "both ways (message: the plain round trip of this run)"),
    ("oneway", "small messages one way (isolate: iso_sendf; pack_send: "
     "iso_msg_pack, iso_send, iso_msg_free)"),
    ("bw_1mib", "1 MiB bytes values one way"),
    ("bw_64mib", "64 MiB bytes values one way"),
    ("spawn", "spawn + first message back + reap"),
    ("compute", "iso_compute of a trivial function, a call"),
    ("pool", "iso_pool_call of a trivial function, a call"),
    ("pool_map", "iso_pool_map of a trivial function over a list"),
    ("pool_submit", "trivial jobs submitted to a pool one by one, all told"),
    ("pool_cpu", "jobs of 1 ms of CPU submitted to a pool, all told"),
    ("map_cli", "isoctl map: JSON lines of seq through a module's "
     "function"),
    ("map_cmd", "isoctl map -- awk: JSON lines of seq through warm awks "
     "on terminals"),
    ("supcompute", "supervisor compute of a trivial function, a call "
     "(warm worker; fresh: a fork a call)"),
    ("scale_1", "1 isolate: spawned, one message, answer, end (total)"),
    ("scale_10", "10 isolates: spawned, one message each, answer, end"),
    ("scale_100", "100 isolates: spawned, one message each, answer, end"),
    ("scale_1000", "1000 isolates: spawned, one message each, answer, end"),
    ("scale_10000", "10000 isolates at once (where the descriptor limit "
     "allows)"),
    ("pss_idle", "PSS of an idle process (100 at once, averaged)"),
    ("codec_small", '{"msg": n} pack + encode + decode + free'),
    ("codec_1mib", "1 MiB bytes pack + encode + decode + free"),
    ("mbox_put", "supervisor mailbox: a put (one log record), by depth"),
    ("mbox_take", "supervisor mailbox: a take (peek + ack), by depth"),
    ("cluster_rt", 'round trip of {"msg": n} between isolates on two nodes '
     "(raw: nats.c request/reply)"),
    ("cluster_oneway", "small messages one way to an isolate on another "
     "node (raw: nats.c publish/subscribe)"),
]
IMPLS = ["raw", "msgpack-c", "depth_0", "worker_1", "message", "isolate", "fresh",
         "packed", "pack_send", "zmq",
         "python", "node", "xargs", "depth_100k"]
BASELINES = ["raw", "msgpack-c", "depth_0", "worker_1", "message"]
KEYS = ["bench", "impl", "unit", "median", "min", "max", "rounds", "better"]

# (bench, impl, reference impl or None for an absolute figure, op, bound,
#  the target as the issue says it)
TARGETS = [
    ("rt", "isolate", "raw", "<=", 1.2, "round trip <= 1.2x raw"),
    ("fd_rt", "isolate", "message", "<=", 1.5,
     "a descriptor passed, round trip <= 1.5x a message round trip"),
    ("oneway", "isolate", "zmq", ">=", 3.0, "one way >= 3x ZeroMQ"),
    ("codec_small", "isolate", "msgpack-c", "<=", 1.2,
     "codec small <= 1.2x msgpack-c's time"),
    ("codec_1mib", "isolate", "msgpack-c", ">=", 0.9,
     "codec 1 MiB bytes >= 0.9x msgpack-c"),
    ("bw_1mib", "isolate", "raw", ">=", 1.5, "1 MiB >= 1.5x raw bandwidth"),
    ("bw_64mib", "isolate", "raw", ">=", 3.0,
     "64 MiB >= 3x raw bandwidth"),
    ("spawn", "isolate", "raw", "<=", 1.5, "spawn <= 1.5x raw"),
    ("spawn", "python", "isolate", ">=", 10.0,
     "spawn >= 10x faster than Python"),
    ("spawn", "node", "isolate", ">=", 50.0, "spawn >= 50x faster than Node"),
    ("compute", "isolate", "raw", "<=", 1.5, "compute <= 1.5x raw"),
    ("pool", "isolate", "raw", "<=", 1.5, "pool call <= 1.5x raw"),
    ("pool", "python", "isolate", ">=", 5.0,
     "pool call >= 5x faster than Python"),
    ("pool_map", "isolate", "python", ">=", 2.0,
     "pool map >= 2x Python Pool.map"),
    ("pool_map", "isolate", "xargs", ">=", 5.0,
     "pool map >= 5x xargs -P (a program per item)"),
    ("map_cli", "isolate", "xargs", ">=", 5.0,
     "isoctl map >= 5x xargs -P2 (a program per item)"),
    ("map_cmd", "isolate", "xargs", ">=", 5.0,
     "isoctl map -- awk >= 5x xargs -P2 (a program per item)"),
    ("pool_cpu", "isolate", "worker_1", ">=", 1.8,
     "CPU-bound pool map >= 1.8x 1 worker"),
    ("supcompute", "isolate", "raw", "<=", 3.0,
     "supervisor warm compute <= 3x raw round trip"),
    ("pss_idle", "isolate", None, "<=", 80.0, "idle isolate <= 80 KiB"),
    ("scale_1000", "isolate", "raw", "<=", 1.4, "1000 isolates <= 1.4x raw"),
    ("mbox_put", "depth_100k", "depth_0", "<=", 1.5,
     "mailbox put 100k deep <= 1.5x empty"),
    ("mbox_take", "depth_100k", "depth_0", "<=", 1.5,
     "mailbox take 100k deep <= 1.5x empty"),
    ("cluster_rt", "isolate", "raw", "<=", 1.5,
     "round trip across nodes <= 1.5x NATS"),
    ("cluster_oneway", "isolate", "raw", ">=", 0.5,
     "one way across nodes >= 0.5x NATS"),
]


def order_key(r):
    names = [b for b, _ in BENCHES]
    b = names.index(r["bench"]) if r["bench"] in names else len(names)
    i = IMPLS.index(r["impl"]) if r["impl"] in IMPLS else len(IMPLS)
    return (b, r["bench"], i, r["impl"])


def check_line(line):
    """The result as a dict with KEYS in order, or a reason it is not."""
    try:
        r = json.loads(line)
    except ValueError as e:
        return None, "not JSON (%s)" % e
    if not isinstance(r, dict) or sorted(r) != sorted(KEYS):
        return None, "keys are not %s" % ", ".join(KEYS)
    for k in ("bench", "impl", "unit"):
        if not isinstance(r[k], str) or not r[k]:
            return None, "%s is not a string" % k
    for k in ("median", "min", "max"):
        v = r[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                not math.isfinite(v) or v <= 0:
            return None, "%s is not a positive number" % k
    if not r["min"] <= r["median"] <= r["max"]:
        return None, "not min <= median <= max"
    if isinstance(r["rounds"], bool) or not isinstance(r["rounds"], int) \
            or r["rounds"] < 1:
        return None, "rounds is not a positive integer"
    if r["better"] not in ("lower", "higher"):
        return None, 'better is not "lower" or "higher"'
    return {k: r[k] for k in KEYS}, None


def collect(d):
    results, failed = [], []
    with open(os.path.join(d, "failed")) as f:
        failed += [l.strip() for l in f if l.strip()]
    with open(os.path.join(d, "order")) as f:
        names = [l.strip() for l in f if l.strip()]
    seen = {}
    for name in names:
        with open(os.path.join(d, name + ".out")) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                r, why = check_line(line)
                if r is None:
                    failed.append("%s: stdout line %d: %s: %s" %
                                  (name, n, why, line.strip()[:80]))
                    continue
                key = (r["bench"], r["impl"])
                if key in seen:
                    failed.append("%s: %s/%s measured twice (also by %s)" %
                                  (name, r["bench"], r["impl"], seen[key]))
                    continue
                seen[key] = name
                results.append(r)
    results.sort(key=order_key)
    return results, failed


def fmt(x):
    if x >= 1e6:
        return "%.3gM" % (x / 1e6)
    if x >= 1000:
        return "{:,.0f}".format(x)
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    if x >= 1:
        return "%.2f" % x
    return "%.3g" % x


def by_bench(results):
    out = {}
    for r in results:
        out.setdefault(r["bench"], {})[r["impl"]] = r
    return out


def baseline(impls):
    for b in BASELINES:
        if b in impls:
            return b
    return None


def print_tables(results):
    titles = dict(BENCHES)
    for bench, impls in by_bench(results).items():
        first = next(iter(impls.values()))
        base = baseline(impls)
        print()
        print("%s: %s, %s (%s is better)" % (bench, titles.get(bench, bench),
                                            first["unit"], first["better"]))
        print("  %-10s %10s  %-23s %9s" % ("impl", "median", "[min - max]",
                                           "x " + (base or "raw")))
        for impl, r in impls.items():
            ratio = ""
            if base is not None:
                ratio = "%.2fx" % (r["median"] / impls[base]["median"])
            print("  %-10s %10s  %-23s %9s   (%d rounds)" % (
                impl, fmt(r["median"]),
                "[%s - %s]" % (fmt(r["min"]), fmt(r["max"])), ratio,
                r["rounds"]))
    print()
    print("x raw: the median's ratio to the baseline's: a time ratio where "
          "lower is better,")
    print("a throughput ratio where higher is better.")


def target_rows(results):
    """(text, shown, ok) a target; ok is None where a figure is missing."""
    b = by_bench(results)
    rows = []
    for bench, impl, ref, op, bound, text in TARGETS:
        r = b.get(bench, {}).get(impl)
        rr = b.get(bench, {}).get(ref) if ref else None
        if r is None or (ref is not None and rr is None):
            missing = "%s/%s" % (bench, impl if r is None else ref)
            rows.append((text, "no figure for %s" % missing, None))
            continue
        if ref is None:
            value = r["median"]
            shown = "%s %s" % (fmt(value), r["unit"])
        elif impl in ("python", "node"):
            value = r["median"] / rr["median"]      # times faster
            shown = "%sx faster" % fmt_ratio(value)
        else:
            value = r["median"] / rr["median"]
            shown = "%sx %s" % (fmt_ratio(value), ref)
        ok = value <= bound if op == "<=" else value >= bound
        rows.append((text, shown, ok))
    return rows


def check_targets(results):
    print()
    print("targets:")
    for text, shown, ok in target_rows(results):
        if ok is None:
            print("  %-36s %-22s n/a (%s)" % (text, "", shown))
        else:
            print("  %-36s %-22s %s" % (text, shown,
                                        "PASS" if ok else "MISS"))


def print_markdown(path):
    """The targets of a results file (latest.json) as a Markdown table."""
    with open(path) as f:
        d = json.load(f)
    print("Targets, full run of %s (%d CPUs):" % (d["date"], d["cpus"]))
    print()
    print("| target | this run | |")
    print("|---|---|---|")
    for text, shown, ok in target_rows(d["results"]):
        verdict = "n/a" if ok is None else ("met" if ok else "**missed**")
        print("| %s | %s | %s |" % (text.replace("|", "\\|"), shown,
                                    verdict))


def write_json(path, meta, results, failed):
    lines = ["{"]
    for k in ("date", "host", "cpus", "quick", "versions"):
        lines.append("  %s: %s," % (json.dumps(k), json.dumps(meta[k])))
    lines.append('  "failed": %s,' % json.dumps(failed))
    lines.append('  "results": [')
    for i, r in enumerate(results):
        lines.append("    " + json.dumps(r) +
                     ("," if i < len(results) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def cost(r, base):
    """How many times the baseline's cost: time ratio, or inverse rate."""
    if r["better"] == "lower":
        return r["median"] / base["median"]
    return base["median"] / r["median"]


def write_svg(path, meta, results):
    """One bar a measurement: its cost relative to the baseline, bars of a
    benchmark side by side around its tick, log scale, figures on top."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench: no gnuplot (make bench-deps): no chart", file=sys.stderr)
        return False
    b = by_bench(results)
    series = [i for i in IMPLS if i not in BASELINES and
              any(i in impls for impls in b.values())]
    series += sorted({r["impl"] for r in results} - set(series) -
                     set(BASELINES))
    ticks, bars = [], {s: [] for s in series}
    width = 0.8 / max(1, min(4, len(series)))
    for bench, impls in b.items():
        base = baseline(impls)
        if base is None:
            continue
        x = len(ticks)
        ticks.append(bench + ("*" if base != "raw" else ""))
        here = [s for s in series if s in impls]
        for j, s in enumerate(here):
            bars[s].append((x + (j - (len(here) - 1) / 2) * width,
                            cost(impls[s], impls[base])))
    values = [v for vs in bars.values() for _, v in vs]
    if not values:
        return False
    top = 10 ** math.ceil(math.log10(max(values + [10]) * 4))
    bottom = 10 ** math.floor(math.log10(min(values + [1]) / 1.5))
    title = "libisolate benchmarks, %s%s" % (
        meta["date"][:10], " (QUICK)" if meta["quick"] else "")
    colors = {"isolate": "#1f77b4", "zmq": "#ff7f0e", "python": "#2ca02c",
              "node": "#9467bd"}
    with tempfile.TemporaryDirectory() as d:
        plots = []
        for s in series:
            if not bars[s]:
                continue
            data = os.path.join(d, s)
            with open(data, "w") as f:
                for x, v in bars[s]:
                    f.write("%.4f %.6g %s\n" % (x, v, fmt_ratio(v)))
            plots.append("'%s' using 1:2 with boxes title '%s' "
                         "lc rgb '%s'" % (data, s, colors.get(s, "#7f7f7f")))
            plots.append("'%s' using 1:($2*1.12):3 with labels "
                         "font 'sans,8' notitle" % data)
        xtics = ", ".join('"%s" %d' % (t, i) for i, t in enumerate(ticks))
        script = "\n".join([
            "set terminal svg size 1100,600 noenhanced "
            "font 'sans,12' background '#ffffff'",
            "set output '%s'" % path,
            "set title \"%s\\ncost relative to the baseline: time / raw "
            "time, or raw throughput / throughput (log scale; "
            "lower is better)\" font 'sans,14'" % title,
            "set ylabel 'times the cost of raw'",
            "set logscale y",
            "set yrange [%g:%g]" % (bottom, top),
            "set xrange [-0.6:%g]" % (len(ticks) - 0.4),
            "set format y '%g'",
            "set grid ytics",
            "set style fill solid 0.9 border -1",
            "set boxwidth %g absolute" % (width * 0.95),
            "set xtics (%s) rotate by 30 right nomirror" % xtics,
            "set key top left",
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead "
            "lw 2 lc rgb '#d62728' back",
            "set label 'raw' at graph 1.01, first 1 left "
            "tc rgb '#d62728'",
            "set rmargin 6",
            "set label '* against msgpack-c, depth 0 or 1 worker, not "
            "raw' at graph 0.995, "
            "graph 0.95 right",
            "set bmargin 5",
            "plot " + ", \\\n     ".join(plots),
            "",
        ])
        with open(os.path.join(d, "plot.gp"), "w") as f:
            f.write(script)
        p = subprocess.run([gnuplot, os.path.join(d, "plot.gp")],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print("bench: gnuplot failed: %s" % p.stderr, file=sys.stderr)
            return False
    return True


def fmt_ratio(v):
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v if v >= 10 else "%.2f" % v


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        print_markdown(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(
        epilog="or: report.py --markdown RESULTS.json (the targets as a "
        "Markdown table, for README.md)")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--date", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--cpus", type=int, required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--versions", default="",
                    help="what=version;... of the peers and libraries")
    a = ap.parse_args()
    versions = dict(kv.split("=", 1) for kv in a.versions.split(";")
                    if "=" in kv)
    meta = {"date": a.date, "host": a.host, "cpus": a.cpus,
            "quick": bool(a.quick), "versions": versions}
    results, failed = collect(a.dir)
    print("bench: %s, %d cpus%s" % (a.date, a.cpus,
                                    ", QUICK" if a.quick else ""))
    print_tables(results)
    check_targets(results)
    write_json(a.json, meta, results, failed)
    chart = write_svg(a.svg, meta, results)
    print()
    print("bench: wrote %s%s" % (a.json, " and " + a.svg if chart else ""))
    if failed:
        print("bench: FAILED:")
        for f in failed:
            print("  " + f)
        return 1
    if not chart:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
