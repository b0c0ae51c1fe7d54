#!/usr/bin/python3
"""docs/monitoring against a real herd-server: every series the Grafana
dashboard asks for is one that /metrics carries, and the Prometheus
configuration scrapes the admin ports of herd.toml.

The server (Ada, with a neighbour Bea that is never started, so its link
series exists and is 0) runs on free loopback ports; one IAMAT and one
WHATSAT move its counters and its places histogram before the scrape.
Every PromQL expression in the dashboard is read for its selectors: a
metric name must be a series name in /metrics exactly (a histogram is
asked for by its _bucket, _sum or _count series), a label matcher must
name a label the series carries, and a literal value one it takes; rate()
and increase() take counters, histogram_quantile() a histogram's _bucket
aggregated by le, and a legend names only labels the query keeps. `up` is
the one series Prometheus makes itself (a target's last scrape), and is
allowed only for the job of the Prometheus configuration. Whatever happens,
the server is stopped.

Usage: monitoring_test.py HERD_SERVER [--dashboard FILE] [--prometheus FILE]
                          [--topology FILE]
(defaults: docs/monitoring/grafana-dashboard.json,
 docs/monitoring/prometheus.yml and herd.toml of this repository)
"""
import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from script_support import ask, check, free_ports, start_server, stop_server, summary, two_servers_toml

ROOT = Path(__file__).resolve().parent.parent
# ---------------------------------------------------------------- /metrics

@dataclass
class Exposition:
    types: dict[str, str] = field(default_factory=dict)  # family -> counter, gauge, histogram
    series: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # series name -> label sets

    def family(self, name: str) -> tuple[str, str | None]:
        """The family a series name belongs to and its type (None: no TYPE line)."""
        if name in self.types:
            return name, self.types[name]
        for suffix in ("_bucket", "_sum", "_count"):
            base = name.removesuffix(suffix)
            if base != name and self.types.get(base) in ("histogram", "summary"):
                if suffix != "_bucket" or self.types[base] == "histogram":
                    return base, self.types[base]
        return name, None

    def labels(self, name: str) -> set[str]:
        return {label for labels in self.series.get(name, []) for label in labels}

    def values(self, name: str, label: str) -> set[str]:
        return {labels[label] for labels in self.series.get(name, []) if label in labels}


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_exposition(text: str) -> Exposition:
    out = Exposition()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                out.types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        if not m:
            check(False, f"/metrics line {number} is a sample", line)
            continue
        name, body, _ = m.groups()
        labels: dict[str, str] = {}
        position = 0
        body = body or ""
        while position < len(body):
            lm = LABEL.match(body, position)
            if not lm:
                check(False, f"/metrics line {number}'s labels parse", line)
                break
            labels[lm.group(1)] = lm.group(2)
            position = lm.end()
        out.series.setdefault(name, []).append(labels)
    return out


# ------------------------------------------------------------------ PromQL

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
WORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NUMBER = re.compile(r"(?:\d+(?:ms|[smhdwy]))+|0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
OPERATOR = re.compile(r"=~|!~|!=|=")


@dataclass
class Selector:
    name: str
    functions: list[str]  # enclosing functions and aggregations, outermost first
    matchers: list[tuple[str, str, str]] = field(default_factory=list)  # (label, op, value)


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    by_lists: list[tuple[list[str], list[str]]] = field(default_factory=list)  # (labels, enclosing functions)
    errors: list[str] = field(default_factory=list)


def skip_string(expr: str, i: int) -> tuple[str, int]:
    """The string literal starting at expr[i] (its quote), and the index past it."""
    quote = expr[i]
    j = i + 1
    value = []
    while j < len(expr) and expr[j] != quote:
        if expr[j] == "\\" and quote != "`" and j + 1 < len(expr):
            j += 1
        value.append(expr[j])
        j += 1
    return "".join(value), j + 1


def skip_space(expr: str, i: int) -> int:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return i


def parse_matchers(expr: str, i: int, parsed: Parsed) -> tuple[list[tuple[str, str, str]], int]:
    """The matchers of the {...} starting at expr[i], and the index past it."""
    matchers = []
    i += 1
    while True:
        i = skip_space(expr, i)
        if i < len(expr) and expr[i] == "}":
            return matchers, i + 1
        label = LABEL_NAME.match(expr, i)
        if not label:
            parsed.errors.append(f"a label matcher at {expr[i:]!r}")
            return matchers, len(expr)
        i = skip_space(expr, label.end())
        op = OPERATOR.match(expr, i)
        i = skip_space(expr, op.end()) if op else i
        if not op or i >= len(expr) or expr[i] not in "\"'`":
            parsed.errors.append(f"a label matcher at {expr[label.start():]!r}")
            return matchers, len(expr)
        value, i = skip_string(expr, i)
        matchers.append((label.group(), op.group(), value))
        i = skip_space(expr, i)
        if i < len(expr) and expr[i] == ",":
            i += 1


def parse_promql(expr: str) -> Parsed:
    """Every selector of a PromQL expression with the functions around it.
    Not a full parser: enough of the grammar to find what each metric name
    is and what is done to it. Grafana's $variables are skipped."""
    parsed = Parsed()
    stack: list[str] = []
    pending = ""  # an aggregation waiting for its '(' past a by (...) clause
    last: Selector | None = None  # the selector a '{' right after it belongs to
    i = 0
    while i < len(expr):
        c = expr[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'`":
            _, i = skip_string(expr, i)
            last = None
        elif c == "{":
            matchers, i = parse_matchers(expr, i, parsed)
            if last is None:
                parsed.errors.append(f"a selector with no metric name: {expr!r}")
            else:
                last.matchers = matchers
            last = None
        elif c == "[":
            end = expr.find("]", i)
            i = len(expr) if end < 0 else end + 1
        elif c == "(":
            stack.append(pending)
            pending = ""
            last = None
            i += 1
        elif c == ")":
            if stack:
                stack.pop()
            else:
                parsed.errors.append(f"an unopened ')' in {expr!r}")
            last = None
            i += 1
        elif c == "$":
            m = re.compile(r"\$\{[^}]*\}|\$[a-zA-Z0-9_]+").match(expr, i)
            i = m.end() if m else i + 1
            last = None
        elif (number := NUMBER.match(expr, i)) and (c.isdigit() or c == "."):
            i = number.end()
            last = None
        elif ident := IDENT.match(expr, i):
            word = ident.group()
            i = skip_space(expr, ident.end())
            after = expr[i] if i < len(expr) else ""
            last = None
            if word in LABEL_LISTS:
                if after == "(":
                    end = expr.find(")", i)
                    labels = [l.strip() for l in expr[i + 1:end].split(",") if l.strip()]
                    if word == "by":
                        parsed.by_lists.append((labels, [f for f in stack if f] + ([pending] if pending else [])))
                    i = len(expr) if end < 0 else end + 1
            elif word in AGGREGATIONS:
                pending = word
            elif after == "(":
                pending = word
            elif word.lower() not in WORDS:
                last = Selector(word, [f for f in stack if f])
                parsed.selectors.append(last)
        else:
            i += 1
            last = None
    if stack:
        parsed.errors.append(f"an unclosed '(' in {expr!r}")
    return parsed


def simple_alternatives(regex: str) -> list[str] | None:
    """The values of a regex that is only alternatives of plain words, else None."""
    if re.fullmatch(r"[A-Za-z0-9_+.-]+(\|[A-Za-z0-9_+.-]+)*", regex) and "." not in regex:
        return regex.split("|")
    return None


def check_selector(sel: Selector, metrics: Exposition, job: str, problems: list[str]) -> set[str]:
    """Checks one selector, adding what is wrong to problems; returns the
    labels its series carry."""
    def want(condition: bool, problem: str) -> bool:
        if not condition:
            problems.append(problem)
        return condition

    if sel.name == "up":
        # Made by Prometheus for each scrape target, not by Herd.
        jobs = [v for label, op, v in sel.matchers if label == "job" and op == "="]
        want(jobs == [job], f'up must be asked for job="{job}", the job of prometheus.yml: {sel.matchers}')
        for label, _, _ in sel.matchers:
            want(label in ("job", "instance"), f"up has no label {label}")
        return {"job", "instance"}
    family, kind = metrics.family(sel.name)
    hint = f" ({family} is a histogram: ask for {family}_bucket, _sum or _count)" if kind == "histogram" else ""
    if not want(sel.name in metrics.series, f"{sel.name} is not a series in /metrics{hint}"):
        return set()
    labels = metrics.labels(sel.name) | {"job", "instance"}
    for label, op, value in sel.matchers:
        if not want(label in labels, f"{sel.name} has no label {label} (its labels: "
                                     f"{', '.join(sorted(metrics.labels(sel.name)))})"):
            continue
        if "$" in value or label in ("job", "instance"):
            continue
        wanted = [value] if op in ("=", "!=") else simple_alternatives(value) if op in ("=~", "!~") else None
        for one in wanted or []:
            want(one in metrics.values(sel.name, label), f'{sel.name} has no {label}="{one}" (its values: '
                                                         f"{', '.join(sorted(metrics.values(sel.name, label)))})")
    inner = sel.functions[-1] if sel.functions else ""
    if inner in COUNTER_FUNCTIONS:
        want(kind == "counter" or (kind == "histogram" and sel.name != family),
             f"{inner}() takes a counter, and {sel.name} is a {kind}")
    if "histogram_quantile" in sel.functions:
        want(kind == "histogram" and sel.name == family + "_bucket",
             f"histogram_quantile() takes a histogram's _bucket series, not {sel.name}")
    return labels


def check_expression(expr: str, legend: str, metrics: Exposition, job: str, where: str) -> set[str]:
    """Checks one PromQL expression, one line for it and one for each
    problem; returns the metric names it asks for."""
    parsed = parse_promql(expr)
    problems = [f"does not parse: {error}" for error in parsed.errors]
    if not parsed.selectors:
        problems.append(f"asks for no metric: {expr!r}")
    carried: set[str] = set()
    for sel in parsed.selectors:
        carried |= check_selector(sel, metrics, job, problems)
    for labels, functions in parsed.by_lists:
        if "histogram_quantile" in functions and "le" not in labels:
            problems.append(f"histogram_quantile's aggregation drops le: by ({', '.join(labels)})")
    kept = set(carried)
    for labels, _ in parsed.by_lists:
        kept &= set(labels)
    if not parsed.by_lists and any(f in AGGREGATIONS for s in parsed.selectors for f in s.functions):
        kept = set()  # an aggregation without by keeps no label
    missing = any(s.name not in metrics.series and s.name != "up" for s in parsed.selectors)
    for name in [] if missing else re.findall(r"\{\{\s*([^}\s]+)\s*\}\}", legend):
        if name not in kept:
            problems.append(f"legend {legend!r} names {name}, a label the query does not keep "
                            f"(kept: {', '.join(sorted(kept)) or 'none'})")
    names = sorted({s.name for s in parsed.selectors})
    if not problems:
        check(True, f"{where}: {', '.join(names)}")
    for problem in problems:
        check(False, f"{where}: {problem}", expr)
    return set(names)


def check_dashboard(dashboard: dict, metrics: Exposition, job: str) -> set[str]:
    used: set[str] = set()
    check(isinstance(dashboard.get("schemaVersion"), int), "the dashboard has a schemaVersion")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS", {})
    check(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
          "the dashboard has a Prometheus data source variable DS_PROMETHEUS", str(ds))
    panels = dashboard.get("panels", [])
    check(10 <= len(panels) <= 16, f"the dashboard has 10 to 16 panels ({len(panels)})")
    ids = [p.get("id") for p in panels]
    check(len(set(ids)) == len(ids), "panel ids are unique", str(ids))
    sources = [t.get("datasource") for p in panels for t in [p] + p.get("targets", [])]
    odd = [d for d in sources if not isinstance(d, dict) or d.get("uid") != "${DS_PROMETHEUS}"]
    check(not odd, "every panel and query takes its data source from ${DS_PROMETHEUS}", str(odd))
    for panel in panels:
        title = panel.get("title", f"panel {panel.get('id')}")
        grid = panel.get("gridPos", {})
        if not check(bool(panel.get("targets")) and grid.get("x", 0) + grid.get("w", 0) <= 24,
                     f"{title}: has queries and fits the 24-column grid", str(grid)):
            continue
        for target in panel.get("targets", []):
            where = f"{title} [{target.get('refId')}]"
            used |= check_expression(target.get("expr", ""), target.get("legendFormat", ""), metrics, job, where)
    for name, var in variables.items():
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", query)
        if not check(bool(m), f"variable {name}: label_values(METRIC, LABEL)", query):
            continue
        problems: list[str] = []
        parsed = parse_promql(m.group(1))
        for sel in parsed.selectors:
            if m.group(2) not in check_selector(sel, metrics, job, problems):
                problems.append(f"{sel.name} has no label {m.group(2)}")
            used.add(sel.name)
        check(not problems and bool(parsed.selectors), f"variable {name}: {query}", "\n".join(problems))
    return used


# ------------------------------------------------------------- Prometheus

def prometheus_jobs(text: str) -> dict[str, dict]:
    """job_name -> {"targets": [...], "metrics_path": ...}, read from a
    scrape configuration in the plain block style docs/monitoring uses (no
    YAML library in the standard library)."""
    jobs: dict[str, dict] = {}
    job: dict | None = None
    targets_indent: int | None = None
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$|^\s*#.*$", "", raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip().removeprefix("- ").strip()
        if targets_indent is not None:
            if line.strip().startswith("-") and indent >= targets_indent:
                job["targets"].append(line.strip()[1:].strip().strip("\"'"))
                continue
            targets_indent = None
        if m := re.fullmatch(r"job_name:\s*[\"']?([^\"']+)[\"']?", body):
            job = jobs.setdefault(m.group(1), {"targets": [], "metrics_path": "/metrics"})
        elif job is not None and (m := re.fullmatch(r"metrics_path:\s*[\"']?([^\"']+)[\"']?", body)):
            job["metrics_path"] = m.group(1)
        elif job is not None and (m := re.fullmatch(r"targets:\s*(.*)", body)):
            inline = m.group(1).strip()
            if inline.startswith("["):
                job["targets"] += [t.strip().strip("\"'") for t in inline.strip("[]").split(",") if t.strip()]
            else:
                targets_indent = indent
    return jobs


def check_prometheus(text: str, topology: dict) -> str:
    """Checks the scrape targets against the topology; returns the job name."""
    admin_host = topology.get("herd", {}).get("admin_host", "127.0.0.1")
    expected = []
    for name, server in topology.get("servers", {}).items():
        port = server.get("admin_port", server["port"] + 20000)
        if port != 0:
            expected.append(f"{admin_host}:{port}")
    jobs = prometheus_jobs(text)
    check(len(jobs) == 1, "prometheus.yml has one scrape job", str(list(jobs)))
    job = next(iter(jobs), "")
    targets = jobs.get(job, {}).get("targets", [])
    check(sorted(targets) == sorted(expected), "prometheus.yml's targets are herd.toml's admin endpoints",
          f"targets  {sorted(targets)}\nexpected {sorted(expected)}")
    check(jobs.get(job, {}).get("metrics_path") == "/metrics", "prometheus.yml scrapes /metrics")
    return job


# ------------------------------------------------------------------ server

def scrape(server: str, work: Path) -> str | None:
    ports = free_ports(6)
    config = work / "monitoring.toml"
    config.write_text(two_servers_toml(ports, '\n[places]\nprovider = "local"\n'))
    process, ready = start_server(server, "Ada", config)
    try:
        if not check(ready.startswith("Ada: clients on"), "herd-server starts", ready):
            return None
        reply = ask(ports[0], f"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time.time():.9f}\n".encode())
        check(reply.startswith(b"AT Ada "), "IAMAT is answered", reply.decode(errors="replace"))
        reply = ask(ports[0], b"WHATSAT kiwi.cs.ucla.edu 1 2\n")
        check(reply.startswith(b"AT Ada ") and b'"status" : "OK"' in reply, "WHATSAT is answered with places",
              reply.decode(errors="replace")[:400])
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[2]}/metrics", timeout=10) as response:
            return response.read().decode()
    finally:
        status = stop_server(process)
        check(status == 0, "herd-server exits 0 on SIGTERM", f"exit {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("herd_server")
    parser.add_argument("--dashboard", type=Path, default=ROOT / "docs/monitoring/grafana-dashboard.json")
    parser.add_argument("--prometheus", type=Path, default=ROOT / "docs/monitoring/prometheus.yml")
    parser.add_argument("--topology", type=Path, default=ROOT / "herd.toml")
    args = parser.parse_args()

    dashboard = json.loads(args.dashboard.read_text())
    topology = tomllib.loads(args.topology.read_text())
    job = check_prometheus(args.prometheus.read_text(), topology)

    work = Path(tempfile.mkdtemp(prefix="monitoring-test-"))
    try:
        text = scrape(args.herd_server, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if text is not None:
        metrics = parse_exposition(text)
        requests = {(l.get("command"), l.get("outcome")) for l in metrics.series.get("herd_requests_total", [])}
        check({("IAMAT", "ok"), ("WHATSAT", "ok")} <= requests, "/metrics counts IAMAT and WHATSAT", str(requests))
        untyped = sorted(n for n in metrics.series if metrics.family(n)[1] is None)
        check(not untyped, "every series in /metrics has a TYPE", str(untyped))
        unnamed = sorted(n for n, sets in metrics.series.items() if any(l.get("server") != "Ada" for l in sets))
        check(not unnamed, 'every series carries server="Ada" (the dashboard\'s $server)', str(unnamed))
        used = check_dashboard(dashboard, metrics, job)
        families = {metrics.family(n)[0] for n in used if n in metrics.series}
        unused = sorted(set(metrics.types) - families)
        herd_series = sorted(n for n in used if n in metrics.series)
        print(f"     the dashboard asks for {len(herd_series)} series of /metrics, of {len(families)} of its "
              f"{len(metrics.types)} families" + (f" (not shown: {', '.join(unused)})" if unused else "") +
              (", and Prometheus's up" if "up" in used else ""))
        missing = sorted(n for n in used if n not in metrics.series and n != "up")
        if missing:
            print("     not in /metrics: " + ", ".join(missing))

    return summary()


if __name__ == "__main__":
    sys.exit(main())
