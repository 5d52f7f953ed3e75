"""Authenticated GET through the gateway vs straight to the service vs a bare Flask app.

    .venv/bin/python bench/gateway.py [--connections 16] [--seconds 10] [--threads 2]
                                      [--warmup 2] [--data DIR] [--scaling]

Starts `crm up` on the local RabbitMQ with its own FerretDB (gateway and services as
separate processes), creates one customer, then loads GET /api/v1/customers/{id} with
wrk (a C client: it costs the cores little), same connections, threads and duration:

  (a) through the gateway with the user's bearer token (user token → user lookup →
      internal token → forward to the customer service → database read);
  (b) straight at the customer service with an internal token minted as the gateway does;
  (c) the anchor: a bare Flask app returning a small JSON document, served by gunicorn
      with a service API's settings (bench/_anchor.py: crm.serving.serve, the same worker
      count as `crm up` gives a service, 8 threads), on a free port.

wrk gets a Lua script written at run time (the Authorization header, and a `done` hook
that prints the figures as one JSON line, so nothing depends on wrk's text layout).
Prints one table: req/s, p50, p99 and the ratios straight/anchor and gateway/straight,
and a `result(...)` line for each figure (bench/run.py). `--data DIR`: the system runs on
a loaded data folder (bench/dataset.py) and the admin reads one of its customers.

`--scaling` (acceptance 9): instead, the read throughput (gateway and straight) with
CRM_API_WORKERS=1 and then 2, on the same data folder; reports the ratio 2 / 1.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _harness import ROOT, CpuMeter, System, free_port, kill_group, result

from crmkit.auth import TokenService
from crmkit.identity import Identity

MARKER = "WRK_RESULT "
LUA = """-- written by bench/gateway.py
wrk.method = "GET"
%(header)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_script(folder: str, name: str, token: str | None) -> str:
    header = (f'wrk.headers["Authorization"] = "Bearer {token}"' if token else "")
    path = os.path.join(folder, f"{name}.lua")
    with open(path, "w") as handle:
        handle.write(LUA % {"header": header, "marker": MARKER})
    return path


def wrk(url: str, script: str, *, connections: int, threads: int, seconds: float) -> dict:
    command = ["wrk", "--latency", "--timeout", "10s", f"--connections={connections}",
               f"--threads={threads}", f"--duration={max(1, round(seconds))}s",
               f"--script={script}", url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    figures = parse_wrk(done.stdout)
    figures["wrk_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return figures


_UNITS_US = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def parse_wrk(output: str) -> dict:
    """The JSON line of the Lua `done` hook; wrk's own text as a fallback."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER):])
            seconds = raw["duration_us"] / 1e6
            return {"requests": raw["requests"], "rps": raw["requests"] / seconds,
                    "p50_ms": raw["p50_us"] / 1e3, "p90_ms": raw["p90_us"] / 1e3,
                    "p99_ms": raw["p99_us"] / 1e3, "max_ms": raw["max_us"] / 1e3,
                    "non_2xx": raw["status"],
                    "socket_errors": raw["connect"] + raw["read"] + raw["write"]
                    + raw["timeout"]}
    return parse_wrk_text(output)


def parse_wrk_text(output: str) -> dict:
    import re

    def duration_ms(text: str) -> float:
        match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
        if not match:
            raise ValueError(f"not a wrk duration: {text!r}")
        return float(match.group(1)) * _UNITS_US[match.group(2)] / 1e3

    figures: dict = {"non_2xx": 0, "socket_errors": 0}
    for line in output.splitlines():
        line = line.strip()
        if match := re.match(r"Requests/sec:\s*([\d.]+)", line):
            figures["rps"] = float(match.group(1))
        elif match := re.match(r"(\d+) requests in", line):
            figures["requests"] = int(match.group(1))
        elif match := re.match(r"(50|90|99)(?:\.0+)?%\s+(\S+)$", line):
            figures[f"p{match.group(1)}_ms"] = duration_ms(match.group(2))
        elif match := re.match(r"Non-2xx or 3xx responses:\s*(\d+)", line):
            figures["non_2xx"] = int(match.group(1))
        elif line.startswith("Socket errors:"):
            figures["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
    missing = {"rps", "requests", "p50_ms", "p99_ms"} - figures.keys()
    if missing:
        raise SystemExit(f"could not read {sorted(missing)} in wrk's output:\n{output}")
    return figures


class Anchor:
    """bench/_anchor.py under gunicorn on a free port, in a process group of its own."""

    def __init__(self, workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_anchor.py")), "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(workers)], cwd=ROOT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit("the anchor app did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        kill_group(self.process, grace=15)


def get_ok(url: str, token: str | None) -> None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200, (url, reply.status)
        json.loads(reply.read())


def reader(system: System, loaded: bool) -> tuple[str, str, str]:
    """(path of one customer, the reader's access token, the internal token the gateway
    would mint for them). A fresh system: a rep and a customer of theirs. A loaded data
    set (`--data`): the admin reads its first customer (nothing is added to the set)."""
    if not loaded:
        session = system.org.user("rep")
        created = session.post("/api/v1/customers", json={
            "name": "基准测试科技", "industry": "IT", "status": "potential",
            "primary_contact": {"name": "王五", "phone": "13712345678"}})
        assert created.status_code == 201, created
        customer_id = created.json["id"]
    else:
        session = system.org.admin
        page = session.get("/api/v1/customers?per_page=1")
        assert page.status_code == 200 and page.json["items"], page
        customer_id = page.json["items"][0]["id"]
    me = session.user
    internal = TokenService(system.secret, internal_ttl=24 * 3600).issue_internal(Identity(
        me["id"], me["username"], me["name"], me["role"], me["team"], me["region"],
        me.get("timezone", "Asia/Shanghai")))
    return f"/api/v1/customers/{customer_id}", session.token, internal


def measure(system: System, targets: list, args, folder: str, groups: list[int]):
    """wrk on each target (after a warm-up of each), anchor first; figures and CPU."""
    scripts = {}
    for number, (label, url, token) in enumerate(targets):
        get_ok(url, token)
        scripts[label] = lua_script(folder, f"target{number}", token)
    load = dict(connections=args.connections, threads=args.threads)
    if args.warmup > 0:
        for label, url, _ in targets:
            wrk(url, scripts[label], seconds=args.warmup, **load)
    results, cpu = {}, {}
    for label, url, _ in reversed(targets):       # anchor, straight, gateway
        with CpuMeter(groups) as meter:
            results[label] = wrk(url, scripts[label], seconds=args.seconds, **load)
        cpu[label] = meter
    return results, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=2, help="seconds per target")
    parser.add_argument("--data", metavar="DIR", help="a loaded data folder "
                        "(bench/dataset.py): read one of its customers")
    parser.add_argument("--scaling", action="store_true", help="instead: read throughput "
                        "with CRM_API_WORKERS=1, then 2 (acceptance 9)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.scaling:
        return scaling(args)
    folder = tempfile.mkdtemp(prefix="crm-bench-wrk-")
    system = anchor = None
    try:
        system = System(data_dir=args.data)
        workers = system.api_workers()
        anchor = Anchor(workers)
        path, token, internal = reader(system, loaded=args.data is not None)
        targets = [  # (label, url, token)
            ("through the gateway", system.base_url + path, token),
            ("straight to the customer service", system.service_url("customer") + path,
             internal),
            ("anchor: bare Flask JSON (gunicorn)", anchor.url + path, None),
        ]
        results, cpu = measure(system, targets, args, folder,
                               [system.process.pid, anchor.process.pid])
        report(path, args, workers, os.cpu_count(), targets, results)
        report_cpu(targets, results, cpu)
        report_results(args, workers, targets, results)
    finally:
        if anchor is not None:
            anchor.stop()
        if system is not None:
            system.stop()
        shutil.rmtree(folder, ignore_errors=True)


def report_results(args, workers, targets, results) -> None:
    gateway, straight, anchor = (results[label] for label, _, _ in targets)
    load = {"load": f"wrk {args.connections} connections, {args.threads} threads, "
                    f"{args.seconds:.0f} s; {workers} API workers x 8 threads",
            "data": args.data or "one customer"}
    result("GET one customer straight to the service", straight["rps"], "req/s",
           anchor="bare Flask JSON under gunicorn, same settings", anchor_value=anchor["rps"],
           target=">= 0.40 x anchor", passed=straight["rps"] >= 0.40 * anchor["rps"], **load)
    result("GET one customer through the gateway", gateway["rps"], "req/s",
           anchor="straight to the service", anchor_value=straight["rps"],
           target=">= 0.60 x straight", passed=gateway["rps"] >= 0.60 * straight["rps"],
           **load)
    result("GET one customer through the gateway p99", gateway["p99_ms"], "ms",
           target="<= 50 ms", passed=gateway["p99_ms"] <= 50, **load)


def scaling(args) -> None:
    """Read throughput (through the gateway and straight to the service) with one API
    process per service, then two: the same data, load and duration.

    Two API processes can only help while one leaves cores idle: the ceiling is the CPU
    the machine left us (its cores less what other processes used meanwhile) over what
    all our processes (APIs, FerretDB, workers, wrk) used with one API process per
    service. Both are reported, with the CPU per request by role."""
    folder = tempfile.mkdtemp(prefix="crm-bench-wrk-")
    data_dir = args.data or tempfile.mkdtemp(prefix="crm-bench-scaling-")
    figures, meters = {}, {}
    try:
        for workers in (1, 2):
            # ports of its own per run: the first system's may still be closing
            system = System(19080 + 300 * workers, 19100 + 300 * workers, data_dir=data_dir,
                            extra_env={"CRM_API_WORKERS": str(workers)})
            try:
                if not args.data and workers == 1:   # an empty folder: one customer in it
                    reader(system, loaded=False)
                path, token, internal = reader(system, loaded=True)   # the admin reads
                targets = [("through the gateway", system.base_url + path, token),
                           ("straight to the customer service",
                            system.service_url("customer") + path, internal)]
                results, cpu = measure(system, targets, args, folder, [system.process.pid])
            finally:
                system.stop()
            figures[workers], meters[workers] = results, cpu
            print(f"\nCRM_API_WORKERS={workers}")
            for label, _, _ in targets:
                r = results[label]
                print(f"  {label:<34}{r['rps']:>9,.0f} req/s  p50 {r['p50_ms']:.1f} ms  "
                      f"p99 {r['p99_ms']:.1f} ms", flush=True)
            report_cpu([(label, None, None) for label, _, _ in targets], results, cpu)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if not args.data:
            shutil.rmtree(data_dir, ignore_errors=True)
    cores = os.cpu_count() or 1
    load = {"load": f"wrk {args.connections} connections, {args.threads} threads, "
                    f"{args.seconds:.0f} s", "cores": cores}
    for label in ("through the gateway", "straight to the customer service"):
        one, two = figures[1][label]["rps"], figures[2][label]["rps"]
        meter, requests = meters[1][label], max(1, figures[1][label]["requests"])
        ours = sum(meter.seconds.values()) + figures[1][label]["wrk_cpu_s"]
        ours_ms = ours * 1000 / requests
        # what the machine left us (its cores less what other processes used) over what
        # one API process per service already used: more processes cannot beat that
        others = max(0.0, meter.machine_busy - ours)
        ceiling = (meter.machine_total - others) / max(ours, 1e-9)
        print(f"2 API processes / 1, {label}: {two / one:.2f}x (ceiling {ceiling:.2f}x: "
              f"{ours_ms:.2f} CPU ms per request on {cores} cores, of which others used "
              f"{others / max(meter.machine_total, 1e-9):.0%})", flush=True)
        result(f"read throughput with 2 API processes per service, {label}", two, "req/s",
               anchor="1 API process per service", anchor_value=one, target=">= 1.6 x",
               passed=two >= 1.6 * one, cpu_ms_per_request=round(ours_ms, 2),
               ceiling_ratio=round(ceiling, 2), **load)


def report(path, args, workers, cores, targets, results) -> None:
    gateway, straight, anchor = (results[label] for label, _, _ in targets)
    print(f"GET {path}  wrk: {args.connections} connections, {args.threads} threads, "
          f"{args.seconds:.0f} s each (after {args.warmup:.0f} s warm-up each); "
          f"gunicorn gthread {workers} workers x 8 threads per API; {cores} cores")
    print(f"{'':<36}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'requests':>10}"
          f"{'non-2xx':>9}{'sock err':>9}")
    for label, _, _ in targets:
        r = results[label]
        p90 = r.get("p90_ms", float("nan"))
        print(f"{label:<36}{r['rps']:>10,.0f}{r['p50_ms']:>9.2f}{p90:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['requests']:>10,}{r['non_2xx']:>9}{r['socket_errors']:>9}")
    print(f"straight / anchor   req/s {straight['rps'] / anchor['rps']:.2f}   "
          f"p50 {straight['p50_ms'] / anchor['p50_ms']:.2f}x   "
          f"p99 {straight['p99_ms'] / anchor['p99_ms']:.2f}x")
    print(f"gateway / straight  req/s {gateway['rps'] / straight['rps']:.2f}   "
          f"p50 {gateway['p50_ms'] / straight['p50_ms']:.2f}x   "
          f"p99 {gateway['p99_ms'] / straight['p99_ms']:.2f}x", flush=True)
    if any(r["non_2xx"] or r["socket_errors"] for r in results.values()):
        print("warning: some requests failed (non-2xx or socket errors); see the table")


def report_cpu(targets, results, cpu) -> None:
    """CPU milliseconds per request by process role, and what the rest of the machine
    (other people's test suites) used meanwhile."""
    columns = ["gateway api", "customer api", "anchor api", "ferretdb", "workers", "wrk"]
    print(f"\nCPU ms per request (all processes of that role; {os.cpu_count()} cores):")
    print(f"{'':<36}" + "".join(f"{c:>14}" for c in columns)
          + f"{'machine busy':>14}{'not ours':>10}")
    for label, _, _ in targets:
        meter, figures = cpu[label], results[label]
        roles = dict(meter.seconds)
        roles["workers"] = sum(v for k, v in roles.items() if k.endswith(" worker"))
        roles["wrk"] = figures["wrk_cpu_s"]
        ours = sum(v for k, v in meter.seconds.items()) + figures["wrk_cpu_s"]
        per = 1000 / max(1, figures["requests"])
        busy = meter.machine_busy / max(meter.machine_total, 1e-9) * 100
        others = (meter.machine_busy - ours) / max(meter.machine_total, 1e-9) * 100
        print(f"{label:<36}" + "".join(f"{roles.get(c, 0) * per:>14.2f}" for c in columns)
              + f"{busy:>13.0f}%{max(0, others):>9.0f}%", flush=True)


if __name__ == "__main__":
    main()
