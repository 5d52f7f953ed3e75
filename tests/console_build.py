"""Helpers for the tests that need the web console's npm project (vitest, the built bundle,
the browser suite): find npm, install node_modules, build console/dist when stale."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"
DIST = CONSOLE / "dist"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def npm_or_skip() -> str:
    npm = shutil.which("npm")
    if npm is None:
        message = "npm is not installed: the console's tests need Node.js and npm"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return npm


def run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=CONSOLE, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args[1:])} failed ({done.returncode}):\n{done.stdout[-6000:]}\n"
                    f"{done.stderr[-4000:]}")
    return done


def ensure_node_modules() -> str:
    npm = npm_or_skip()
    if not (CONSOLE / "node_modules" / ".package-lock.json").is_file():
        run([npm, "ci", "--no-audit", "--no-fund"])
    return npm


def _newest_source() -> float:
    newest = 0.0
    for base in (CONSOLE / "src", CONSOLE / "public"):
        for path in base.rglob("*"):
            if path.is_file() and ".test." not in path.name:
                newest = max(newest, path.stat().st_mtime)
    for name in ("index.html", "vite.config.ts", "package-lock.json"):
        newest = max(newest, (CONSOLE / name).stat().st_mtime)
    return newest


def ensure_built() -> Path:
    """console/dist, built now if it is missing or older than the sources."""
    index = DIST / "index.html"
    if index.is_file() and index.stat().st_mtime >= _newest_source():
        return DIST
    npm = ensure_node_modules()
    run([npm, "run", "build:fast"])
    return DIST


def route_sizes(dist: Path = DIST) -> dict:
    """Gzipped bytes of the JavaScript the sign-in route loads (the entry and its static
    imports, from the Vite manifest) and of all JavaScript."""
    manifest = json.loads((dist / ".vite" / "manifest.json").read_text())
    entry = next(key for key, chunk in manifest.items() if chunk.get("isEntry"))
    seen: set[str] = set()

    def walk(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for child in manifest[key].get("imports", []):
            walk(child)

    walk(entry)

    def gz(file: str) -> int:
        return len(gzip.compress((dist / file).read_bytes(), compresslevel=9))

    signin = {manifest[key]["file"]: gz(manifest[key]["file"]) for key in seen}
    every = {p.name: gz(str(p.relative_to(dist))) for p in (dist / "assets").glob("*.js")}
    return {"signin_files": signin, "signin_gzip": sum(signin.values()),
            "total_gzip": sum(every.values()), "files": len(every)}
