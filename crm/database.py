"""Where the CRM's data lives: the server MONGO_URL names, else the local FerretDB that
serves the data folder (CRM_DATA_DIR, by default ~/.local/share/crm)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crm.ferretdb import (VERSION, FerretDBUnavailable, FerretServer, default_data_dir,
                          ensure_binary, running_server_url)


def data_dir() -> Path:
    return Path(os.environ.get("CRM_DATA_DIR") or default_data_dir()).expanduser().resolve()


@dataclass
class Database:
    url: str
    server: FerretServer | None = None   # set when this process started the server


@contextmanager
def open_database(*, say=print, share_running: bool = False):
    """MONGO_URL if set; else start FerretDB on the data folder for as long as the block
    runs. `share_running`: use the FerretDB of a `crm up` already serving the folder
    (backup, rebuild); without it a folder in use is an error (two systems, one folder)."""
    url = os.environ.get("MONGO_URL")
    if url:
        yield Database(url)
        return
    folder = data_dir()
    running = running_server_url(folder)
    if running and share_running:
        yield Database(running)
        return
    try:
        binary = ensure_binary(lambda text, **_: say(text, flush=True))
    except FerretDBUnavailable as error:
        raise SystemExit(str(error)) from None
    try:
        server = FerretServer(folder, binary=binary).start()
    except RuntimeError as error:
        raise SystemExit(str(error)) from None
    say(f"crm: data folder {folder} (CRM_DATA_DIR); FerretDB {VERSION} on {server.url}",
        flush=True)
    try:
        yield Database(server.url, server)
    finally:
        server.stop()
