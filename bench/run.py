"""Run the benchmarks one after another and print one table of their figures.

    .venv/bin/python bench/run.py [--data DIR] [--only name,...] [--markdown PATH]
        [--timeout SECONDS] [--list]

Each benchmark runs as a subprocess of its own (never two at once: they measure a quiet
machine), with `--data DIR` when it accepts a loaded data folder (bench/dataset.py) and
DIR was given. Every figure a benchmark reports is one `BENCH {json}` line on its stdout
(`_harness.result`): its value, the anchor measured in the same run, their ratio and the
target it answers. A benchmark that fails, times out or reports nothing is a row with its
error, and the runner goes on.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MARKER = "BENCH "

# name -> (script, arguments); in the order they run
BENCHES = {
    "gateway": ("gateway.py", []),
    "gateway-scaling": ("gateway.py", ["--scaling"]),
    "search": ("search.py", []),
    "customers": ("customers.py", []),
    "customer-writes": ("customer_writes.py", []),
    "event-lag": ("event_lag.py", []),
    "tasks": ("tasks.py", ["--replicas", "2"]),
    # through the gateway, as a user asks: without --data, a history published to the
    # broker and projected first (the projector's ~40 events/s bounds its size); 200
    # answers per report, so that its p99 is not simply its slowest one
    "reporting": ("reporting.py", ["--gateway", "--events", "4000", "--queries", "200"]),
    "import-export": ("import_export.py", []),
    "idle": ("idle.py", []),
}
COLUMNS = ("bench", "name", "value", "unit", "anchor", "anchor value", "ratio", "target",
           "pass")


def accepts_data(script: Path) -> bool:
    """Whether a benchmark takes `--data DIR` (asked through its --help)."""
    try:
        helped = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                                text=True, timeout=120, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return False
    return "--data" in helped.stdout


def run_one(name: str, script: str, arguments: list[str], data: str | None,
            timeout: float) -> list[dict]:
    """The figures one benchmark reported, or one row with its error."""
    path = BENCH / script
    if not path.exists():
        return [{"bench": name, "name": name, "error": f"{script} does not exist"}]
    command = [sys.executable, str(path), *arguments]
    if data and accepts_data(path):
        command += ["--data", data]
    print(f"run: {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    began = time.monotonic()
    rows, tail = [], []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT, start_new_session=True)

    def read() -> None:
        for line in process.stdout:
            sys.stderr.write(f"  {name}| {line}")
            if line.startswith(MARKER):
                try:
                    rows.append({"bench": name, **json.loads(line[len(MARKER):])})
                    continue
                except json.JSONDecodeError:
                    pass
            tail[:] = (tail + [line.rstrip()])[-5:]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        reader.join(5)
        return rows + [{"bench": name, "name": name,
                        "error": f"timed out after {timeout:.0f} s"}]
    except BaseException:
        _stop(process)
        raise
    reader.join(30)
    seconds = time.monotonic() - began
    print(f"run: {name} finished in {seconds:.0f} s (exit {process.returncode})",
          file=sys.stderr, flush=True)
    if process.returncode != 0:
        rows.append({"bench": name, "name": name, "error":
                     f"exit {process.returncode}: {' / '.join(tail)[-300:]}"})
    elif not rows:
        rows.append({"bench": name, "name": name, "error": "reported no figure"})
    return rows


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the benchmark's process group (its `finally` stops what it started)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def cells(row: dict) -> list[str]:
    if row.get("error"):
        return [row["bench"], row.get("name", ""), "", "", "", "", "", "",
                f"ERROR: {row['error']}"]
    passed = row.get("passed")
    return [row["bench"], row.get("name", ""), _number(row.get("value")), row.get("unit") or "",
            row.get("anchor") or "", _number(row.get("anchor_value")),
            "" if row.get("ratio") is None else f"{row['ratio']:.2f}×",
            row.get("target") or "", "" if passed is None else ("pass" if passed else "FAIL")]


def table(rows: list[dict]) -> str:
    lines = [cells(r) for r in rows]
    widths = [max(len(c[i]) for c in [list(COLUMNS)] + lines) for i in range(len(COLUMNS))]
    out = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def markdown(rows: list[dict], header: str) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    out = [header, "", "| " + " | ".join(COLUMNS) + " |",
           "|" + "|".join("---" for _ in COLUMNS) + "|"]
    out += ["| " + " | ".join(escape(c) for c in cells(r)) + " |" for r in rows]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", metavar="DIR", help="a data folder bench/dataset.py loaded")
    parser.add_argument("--only", help="comma-separated benchmark names (see --list)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table here")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and stop")
    args = parser.parse_args(argv)
    if args.list:
        for name, (script, arguments) in BENCHES.items():
            print(f"{name:<16} bench/{script} {' '.join(arguments)}")
        return 0
    names = list(BENCHES) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise SystemExit(f"run: unknown benchmark(s) {', '.join(unknown)}; see --list")
    data = str(Path(args.data).resolve()) if args.data else None
    began = time.strftime("%Y-%m-%d %H:%M:%S")
    rows: list[dict] = []
    for name in names:
        script, arguments = BENCHES[name]
        rows += run_one(name, script, arguments, data, args.timeout)
    print(table(rows), flush=True)
    if args.markdown:
        header = (f"Benchmarks of {began}, {os.cpu_count()} cores"
                  + (f", data set {data}" if data else ", fresh data per benchmark"))
        Path(args.markdown).write_text(markdown(rows, header), encoding="utf-8")
        print(f"run: table written to {args.markdown}", file=sys.stderr)
    failed = [r for r in rows if r.get("error") or r.get("passed") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
