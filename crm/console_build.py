"""`crm up` builds the web console once when console/dist is missing and npm is present."""
from __future__ import annotations

import os
import shutil
import subprocess

from gateway.console import ROOT, console_dist


def ensure_console_built() -> bool:
    """True if a built console is there (now or already). Never stops the API from starting."""
    dist = console_dist()
    if (dist / "index.html").is_file():
        return True
    source = ROOT / "console"
    if os.environ.get("CRM_CONSOLE_BUILD", "1") == "0" or not (source / "package.json").is_file():
        return False
    npm = shutil.which("npm")
    if npm is None:
        print("crm: the web console is not built and npm is not installed; the API works, and "
              "/ says how to build it (npm ci --prefix console && npm run build --prefix "
              "console)", flush=True)
        return False
    steps = []
    if not (source / "node_modules").is_dir():
        steps.append([npm, "ci", "--no-audit", "--no-fund"])
    steps.append([npm, "run", "build:fast"])
    for step in steps:
        print(f"crm: building the web console: {' '.join(step[1:])} (in {source})", flush=True)
        try:
            done = subprocess.run(step, cwd=source, check=False)
        except OSError as error:
            print(f"crm: console build failed: {error}", flush=True)
            return False
        if done.returncode != 0:
            print(f"crm: console build failed (exit {done.returncode}); the API still works",
                  flush=True)
            return False
    print(f"crm: web console built into {dist}", flush=True)
    return True
