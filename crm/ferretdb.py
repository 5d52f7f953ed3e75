"""The local MongoDB server: FerretDB v1.24 (MongoDB wire protocol over SQLite).

Built like a package is installed: `crm/ferretdb_go` is a tiny Go module that embeds
FerretDB's public `ferretdb` package (FerretDB's own command, `go install`ed, panics at
start without the version files its release build generates). Its dependencies come
from the Go module proxy, pinned by go.sum; the binary goes to a cache folder and is
reused from there, never committed. `ferretdb_go/patches.json` holds the few-line
changes made to a copy of FerretDB's sources at build time (`go build -modfile` with a
`replace`, as a distribution patches a package), each with the reason, and
`ferretdb_go/_overlay` the whole files added to it; its "dependencies" and
`ferretdb_go/_dependencies` do the same for two of FerretDB's own dependencies, the SQLite
driver and its libc (docs/database.md says why). `crm up`,
`crm backup` / `crm restore` and the test suite start it through `FerretServer`; pymongo
talks to it exactly as to MongoDB.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

VERSION = "v1.24.2"
MODULE = "github.com/FerretDB/FerretDB"
SOURCE = Path(__file__).with_name("ferretdb_go")
OVERLAY = SOURCE / "_overlay"   # whole files added to FerretDB's sources (Go skips "_" dirs)
DEPENDENCIES = SOURCE / "_dependencies"   # whole files added to patched dependencies
STATE_FILE = "ferretdb.json"   # in a data folder: the running server's port and pid


class FerretDBUnavailable(RuntimeError):
    """No FerretDB binary here and no way to build one."""


def cache_dir() -> Path:
    base = os.environ.get("CRM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "crm")
    return Path(base)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "crm"


def cached_binary() -> Path:
    """Named by FerretDB's version and a hash of our module's sources, so a changed
    module (the write gate, say) is built afresh rather than an old build reused."""
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE.rglob("*")
                       if p.suffix in (".go", ".mod", ".sum", ".json")):
        digest.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    return cache_dir() / "bin" / f"ferretdb-{VERSION}-{digest.hexdigest()[:12]}"


def find_binary() -> Path | None:
    """An explicit CRM_FERRETDB, the cached build, or a `ferretdb` on PATH."""
    explicit = os.environ.get("CRM_FERRETDB")
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) else None
    cached = cached_binary()
    if os.access(cached, os.X_OK):
        return cached
    on_path = shutil.which("ferretdb")
    return Path(on_path) if on_path else None


def install(say=print) -> Path:
    """Build FerretDB into the cache (minutes the first time; one build at a time)."""
    target = cached_binary()
    go = shutil.which("go")
    if go is None:
        raise FerretDBUnavailable(unavailable_message())
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / ".install.lock"):
        if os.access(target, os.X_OK):
            return target
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        say(f"crm: building FerretDB {VERSION} (Go module proxy) into {target.parent}; "
            "the first time takes a few minutes ...", flush=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
        with tempfile.TemporaryDirectory(prefix="crm-ferretdb-build-") as scratch:
            modfile = _patched_modfile(go, env, Path(scratch))
            result = subprocess.run(
                [go, "build", "-trimpath", f"-modfile={modfile}", "-o", str(partial), "."],
                cwd=SOURCE, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise FerretDBUnavailable(f"building FerretDB failed (go build in {SOURCE}):\n"
                                      f"{result.stderr[-2000:]}\n{unavailable_message()}")
        os.replace(partial, target)
        return target


def _patched_modfile(go: str, env: dict, scratch: Path) -> Path:
    """Copies FerretDB's module into `scratch`, applies patches.json to the copy and
    returns a go.mod that builds against it (`go build -modfile` with a `replace`), with
    the files under `_overlay` added; the same for each module of patches.json's
    "dependencies", with the files of `_dependencies/<module>` added. A patch that no
    longer applies stops the build rather than building something else."""
    patches = json.loads((SOURCE / "patches.json").read_text(encoding="utf-8"))
    copy = _patched_copy(go, env, f"{MODULE}@{VERSION}", patches["files"], scratch)
    for added in OVERLAY.rglob("*.go"):
        target = copy / added.relative_to(OVERLAY)
        if target.exists():
            raise FerretDBUnavailable(f"{added} would replace FerretDB's own {target.name}")
        target.parent.chmod(0o755)
        shutil.copyfile(added, target)
    replaces = [f"replace {MODULE} => {copy}"]
    for module, files in patches.get("dependencies", {}).items():
        path = module.split("@")[0]
        dependency = _patched_copy(go, env, module, files, scratch)
        for added in (DEPENDENCIES / path).glob("*.go"):
            shutil.copyfile(added, dependency / added.name)
        replaces.append(f"replace {path} => {dependency}")
    modfile = scratch / "go.mod"
    modfile.write_text((SOURCE / "go.mod").read_text() + "\n" + "\n".join(replaces) + "\n")
    shutil.copyfile(SOURCE / "go.sum", scratch / "go.sum")
    return modfile


def _patched_copy(go: str, env: dict, module: str, files: dict, scratch: Path) -> Path:
    """A copy of `module` (path@version) in `scratch` with `files`' changes made."""
    copy = scratch / module.split("@")[0].replace("/", "_")
    shutil.copytree(_module_dir(go, env, module), copy)
    for relative, changes in files.items():
        target = copy / relative
        text = target.read_text(encoding="utf-8")
        for change in changes:
            if text.count(change["old"]) != change["count"]:
                raise FerretDBUnavailable(f"patch for {module} {relative} does not apply: "
                                          f"expected {change['count']} × {change['old']!r}")
            text = text.replace(change["old"], change["new"])
        target.chmod(0o644)
        target.write_text(text, encoding="utf-8")
    return copy


def _module_dir(go: str, env: dict, module: str) -> Path:
    """The module cache's folder of `module` (path@version), downloaded if need be."""
    found = subprocess.run([go, "mod", "download", "-json", module],
                           cwd=SOURCE, env=env, capture_output=True, text=True)
    if found.returncode != 0:
        raise FerretDBUnavailable(f"cannot download {module}:\n"
                                  f"{found.stderr[-2000:]}\n{unavailable_message()}")
    return Path(json.loads(found.stdout)["Dir"])


def ensure_binary(say=print) -> Path:
    return find_binary() or install(say)


def unavailable_message() -> str:
    return ("crm: no database server. The CRM keeps its data in MongoDB; locally it runs "
            f"FerretDB {VERSION}, which it builds with the Go toolchain. Either install Go "
            "(https://go.dev/dl/) so that `crm up` can build it from crm/ferretdb_go, or put "
            "a FerretDB 1.24 `ferretdb` binary on PATH (or CRM_FERRETDB=PATH); or point "
            "the CRM at a MongoDB you run: MONGO_URL=mongodb://HOST:27017/")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class FerretServer:
    """One FerretDB process on a SQLite folder (one SQLite file per database).

    `data_dir` keeps the data; `memory=True` keeps it in memory (throwaway test servers).
    A data folder is used by one server at a time: its lock is held while it runs, and
    its state file tells other commands (`crm backup`) where to find it."""

    def __init__(self, data_dir: Path, *, port: int | None = None, memory: bool = False,
                 binary: Path | None = None, die_with_parent: bool = True,
                 log_level: str = "warn"):
        self.data_dir = Path(data_dir)
        self.log_level = log_level   # "debug" logs every SQL statement and its time
        self.port = port or _free_port()
        self.memory = memory
        self.binary = binary
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen | None = None
        self._lock_handle = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60) -> "FerretServer":
        binary = self.binary or ensure_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        # WAL (FerretDB's default) with synchronous=NORMAL: a commit is safe from a crash
        # of any process, FerretDB's included; only an OS crash or power cut may lose the
        # last ones. FULL would sync every commit and halve the write rate.
        sqlite_url = f"file:{self.data_dir}/" + ("?mode=memory" if self.memory
                                                 else "?_pragma=synchronous(normal)")
        command = [str(binary), "--handler=sqlite", f"--sqlite-url={sqlite_url}",
                   f"--listen-addr=127.0.0.1:{self.port}", f"--state-dir={self.data_dir}",
                   f"--debug-addr={os.environ.get('CRM_FERRETDB_DEBUG_ADDR') or '-'}",
                   "--telemetry=disable", f"--log-level={self.log_level}"]
        log = open(self.data_dir / "ferretdb.log", "ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if self.die_with_parent else None)
        log.close()
        self._wait_answering(timeout)
        (self.data_dir / STATE_FILE).write_text(json.dumps(
            {"port": self.port, "pid": self.process.pid, "url": self.url}))
        return self

    def _take_lock(self) -> None:
        handle = open(self.data_dir / ".lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RuntimeError(f"crm: the data folder {self.data_dir} is in use by another "
                               "running CRM (stop it, or set CRM_DATA_DIR to another folder)")
        self._lock_handle = handle

    def _wait_answering(self, timeout: float) -> None:
        import pymongo

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                tail = (self.data_dir / "ferretdb.log").read_text(errors="replace")[-2000:]
                self._release()
                raise RuntimeError(f"FerretDB exited with {self.process.returncode}:\n{tail}")
            try:
                client = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500)
                try:
                    client.admin.command("ping")
                    return
                finally:
                    client.close()
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"FerretDB did not answer on {self.url} in {timeout}s")
                time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self) -> "FerretServer":
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()


def running_server_url(data_dir: Path) -> str | None:
    """The URL of the FerretDB a running `crm up` serves this data folder with, if any."""
    state_file = Path(data_dir) / STATE_FILE
    try:
        state = json.loads(state_file.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return state["url"]
