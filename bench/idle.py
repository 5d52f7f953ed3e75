"""CPU of an idle `crm up`: no requests, no events, only what the system does by itself.

    .venv/bin/python bench/idle.py [--seconds 30] [--settle 20] [--profile]

Starts `crm up` (gateway and every service as separate processes, the local RabbitMQ,
its own FerretDB on a fresh data folder), waits until it is healthy and its start-up
work is done (5 s windows until one has no process starting or ending and its CPU no
longer falls; at most --settle seconds), then measures the CPU seconds of
the whole process group over --seconds: percent of one core, by role (ferretdb, each
service's api and worker, the gateway, the supervisor as "other").

--profile also runs `py-spy dump` on every worker process once (installed from PyPI if
you want it; skipped otherwise), to see where an idle worker's threads are waiting.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import threading

from _harness import CpuMeter, System, _role, group_processes, result

TARGET_PCT = 2.0


def _processes(group: int) -> dict[int, tuple[str, float]]:
    """pid → (role, CPU seconds so far) of the process group's processes."""
    return {pid: (_role(command), seconds)
            for pid, command, seconds in group_processes({group})}


def group_cpu(system: System, seconds: float) -> tuple[float, dict, dict]:
    """CPU of the process group over `seconds`, by role, counting the processes alive at
    both ends (CpuMeter sums by role, so a process that exits meanwhile would subtract);
    a process that started or ended in the window is reported in `churn`."""
    before = _processes(system.process.pid)
    with CpuMeter([system.process.pid]) as machine:
        threading.Event().wait(seconds)   # the measured window itself: nothing to wait on
    after = _processes(system.process.pid)
    by_role: dict[str, float] = {}
    for pid in set(before) & set(after):
        role = after[pid][0]
        by_role[role] = by_role.get(role, 0.0) + after[pid][1] - before[pid][1]
    churn = {"started": sorted(after[p][0] for p in set(after) - set(before)),
             "ended": sorted(before[p][0] for p in set(before) - set(after)),
             "machine_busy_pct": round(100.0 * machine.machine_busy /
                                       max(machine.machine_total, 1e-9), 1)}
    return 100.0 * sum(by_role.values()) / seconds, by_role, churn


def settle(system: System, longest: float, window: float = 5.0) -> float:
    """Wait until start-up work is done: a window in which no process started or ended
    and the CPU no longer falls (under the target, or within a fifth of the window
    before), or at most `longest` seconds. Returns the seconds spent."""
    spent, previous = 0.0, None
    while spent < longest:
        pct, _, churn = group_cpu(system, window)
        spent += window
        steady = not churn["started"] and not churn["ended"]
        if steady and (pct <= TARGET_PCT or (previous is not None and pct >= 0.8 * previous)):
            break
        previous = pct
    return spent


def dump_workers(system: System) -> None:
    spy = shutil.which("py-spy")
    if spy is None:
        print("py-spy not installed: no stack dump", flush=True)
        return
    listing = subprocess.run(["pgrep", "-g", str(system.process.pid), "-af", "crm.cli"],
                             capture_output=True, text=True).stdout.splitlines()
    for line in listing:
        pid, command = line.split(" ", 1)
        print(f"--- {command}", flush=True)
        subprocess.run([spy, "dump", "--pid", pid], check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--settle", type=float, default=30,
                        help="at most this long for start-up work to finish")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    system = System()
    try:
        settled = settle(system, args.settle)
        pct, by_role, churn = group_cpu(system, args.seconds)
        roles = {role: round(100.0 * s / args.seconds, 2)
                 for role, s in sorted(by_role.items(), key=lambda kv: -kv[1])}
        print("idle CPU by role, % of one core: " +
              ", ".join(f"{role} {value}" for role, value in roles.items()), flush=True)
        result("idle CPU", round(pct, 2), "% of one core", target="≤ 2 % of one core",
               passed=pct <= TARGET_PCT, seconds=args.seconds, settled_after_s=settled,
               by_role=roles, **churn)
        if args.profile:
            dump_workers(system)
    finally:
        system.stop()


if __name__ == "__main__":
    main()
