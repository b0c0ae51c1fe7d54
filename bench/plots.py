"""SVG plots of scripts/bench's figures, drawn by gnuplot from the JSON that
`scripts/bench --json FILE` writes: throughput by system and load, latency
percentiles by system, and broadcast cost and propagation by herd size
(the herd-scale runs). Each plot is drawn only if its figures are there.

    /usr/bin/python3 bench/plots.py results.json DIR   # or: scripts/bench --plots DIR
"""

import json
import subprocess
import sys
from pathlib import Path

# The loads and systems the plots show, in order. Single servers only: the
# herds of five are in the tables.
THROUGHPUT_LOADS = ["rr1", "rr64", "rr1000", "pipe64"]
PLOTTED_SYSTEMS = ["herd", "python", "node", "jthreads", "jnetty", "redis", "line"]
LATENCY_LOAD = "rr64"

HEAD = """set terminal svg size 900,480 dynamic font "sans,12" background rgb "white"
set output "{out}"
set datafile missing "?"
set key outside right top
set grid ytics
set style fill solid 0.85 border -1
"""


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def quoted(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def result(figures: dict, system: str, load: str) -> dict | None:
    return figures.get("results", {}).get(f"{system}/{load}")


def systems_with(figures: dict, loads: list[str]) -> list[str]:
    return [s for s in PLOTTED_SYSTEMS if any(result(figures, s, load) for load in loads)]


def throughput(figures: dict, out: Path) -> str | None:
    systems = systems_with(figures, THROUGHPUT_LOADS)
    loads = [load for load in THROUGHPUT_LOADS if any(result(figures, s, load) for s in systems)]
    if not systems or not loads:
        return None
    labels = figures.get("labels", {})
    rows = ["load " + " ".join(quoted(labels.get("systems", {}).get(s, s)) for s in systems)]
    for load in loads:
        name = labels.get("loads", {}).get(load, load).removeprefix("IAMAT, ")
        cells = []
        for s in systems:
            r = result(figures, s, load)
            cells.append(f"{median(r['throughput']):.0f}" if r and r["throughput"] else "?")
        # Two lines a tick ("64 conns" over "request-reply"): on one line
        # the neighbouring loads' names run into each other.
        rows.append(quoted(name).replace(", ", "\\n") + " " + " ".join(cells))
    return (HEAD.format(out=out) + "$data << EOD\n" + "\n".join(rows) + "\nEOD\n"
            'set title "Replies per second by load (median of runs; log scale)"\n'
            "set logscale y\nset format y \"%.0s%c\"\nset yrange [1000:*]\n"
            "set style data histograms\nset style histogram clustered gap 1\nset boxwidth 0.9\n"
            f"plot for [i=2:{len(systems) + 1}] $data using i:xtic(1) title columnheader(i)\n")


def latency(figures: dict, out: Path) -> str | None:
    systems = [s for s in PLOTTED_SYSTEMS if result(figures, s, LATENCY_LOAD)]
    if not systems:
        return None
    labels = figures.get("labels", {})
    rows = ["system p50 p99 p99.9"]
    for s in systems:
        r = result(figures, s, LATENCY_LOAD)
        rows.append(quoted(labels.get("systems", {}).get(s, s)) + " " +
                    " ".join(f"{median(r[k]) / 1000:.3f}" for k in ("p50", "p99", "p999")))
    load = labels.get("loads", {}).get(LATENCY_LOAD, LATENCY_LOAD)
    return (HEAD.format(out=out) + "$data << EOD\n" + "\n".join(rows) + "\nEOD\n"
            f'set title "Latency percentiles, {load} (ms, median of runs; log scale)"\n'
            "set logscale y\nset style data histograms\nset style histogram clustered gap 1\nset boxwidth 0.9\n"
            'plot $data using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9"\n')


def scale(figures: dict, out: Path) -> str | None:
    runs = figures.get("extra", {}).get("scale", [])
    if not runs:
        return None
    blocks = []
    plots = []
    for mode in sorted({r["broadcast"] for r in runs}):
        ordered = sorted((r for r in runs if r["broadcast"] == mode), key=lambda r: r["servers"])
        rows = [f"{r['servers']} {r['rmr']:.4f} {r['propagation_ms']['p50']:.3f} {r['propagation_ms']['p99']:.3f}"
                for r in ordered]
        blocks.append(f"${mode} << EOD\n" + "\n".join(rows) + "\nEOD\n")
        plots += [f'${mode} using 1:2 axes x1y1 with linespoints lw 2 pt 7 title "RMR, {mode}"',
                  f'${mode} using 1:3 axes x1y2 with linespoints dt 2 pt 6 title "propagation p50 ms, {mode}"',
                  f'${mode} using 1:4 axes x1y2 with linespoints dt 3 pt 4 title "propagation p99 ms, {mode}"']
    return (HEAD.format(out=out) + "".join(blocks) +
            'set title "Broadcast cost and propagation to the farthest server, by herd size (at most 4 links each)"\n'
            'set xlabel "servers"\nset ylabel "RMR, messages / (N - 1) - 1"\nset y2label "ms"\n'
            "set yrange [0:*]\nset y2range [0:*]\nset ytics nomirror\nset y2tics\n"
            "plot " + ", ".join(plots) + "\n")


def draw(figures: dict, directory: Path) -> list[Path]:
    """Every plot whose figures are there, as DIR/NAME.svg; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for name, make in (("throughput", throughput), ("latency", latency), ("scale", scale)):
        path = directory / f"{name}.svg"
        script = make(figures, path)
        if script is None:
            continue
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        made.append(path)
    return made


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: bench/plots.py RESULTS.json DIR", file=sys.stderr)
        return 2
    for path in draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
