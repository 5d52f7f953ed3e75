"""`crm backup` and `crm restore`: every service's collections and index definitions.

A backup is a folder: `manifest.json`, then per database a folder with, per collection,
`<name>.jsonl` (MongoDB extended JSON, one document a line, so every type round-trips)
and `<name>.indexes.json`. Each collection is read in one pass by `_id` while the system
runs; the outbox rides inside the documents, so pending events are backed up with the
change that caused them. A restore goes into empty databases only, then builds the
indexes, so a half-restored folder is never mistaken for live data.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from bson import json_util

from crmkit.config import SERVICES, Settings
from crmkit.mongo import mongo_client

FORMAT = 1
BATCH = 1000
OWNERS = ("gateway", *SERVICES)   # every part that owns a database
CANONICAL = json_util.CANONICAL_JSON_OPTIONS


def _databases(settings: Settings) -> dict[str, str]:
    return {owner: settings.database_name(owner) for owner in OWNERS}


def backup(settings: Settings, out: str | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out or f"crm-backup-{stamp}")
    folder.mkdir(parents=True, exist_ok=False)
    client = mongo_client(settings.mongo_url)
    manifest = {"format": FORMAT, "taken_at": stamp, "databases": {}}
    for owner, name in _databases(settings).items():
        database = client[name]
        target = folder / owner
        target.mkdir()
        counts = {}
        for collection_name in sorted(database.list_collection_names()):
            collection = database[collection_name]
            count = 0
            with (target / f"{collection_name}.jsonl").open("w", encoding="utf-8") as lines:
                for document in collection.find().sort("_id", 1):
                    lines.write(json_util.dumps(document, json_options=CANONICAL))
                    lines.write("\n")
                    count += 1
            indexes = [_index_spec(name, info)
                       for name, info in collection.index_information().items() if name != "_id_"]
            (target / f"{collection_name}.indexes.json").write_text(json.dumps(indexes, indent=1))
            counts[collection_name] = count
        manifest["databases"][owner] = counts
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def _index_spec(name: str, info: dict) -> dict:
    spec = {"name": name, "keys": [[field, direction] for field, direction in info["key"]]}
    if info.get("unique"):
        spec["unique"] = True
    return spec


def restore(settings: Settings, folder: str) -> dict:
    source = Path(folder)
    manifest = json.loads((source / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise SystemExit(f"crm restore: {source} is not a backup this version can read")
    client = mongo_client(settings.mongo_url)
    names = _databases(settings)
    busy = [names[owner] for owner in manifest["databases"]
            if client[names[owner]].list_collection_names()]
    if busy:
        raise SystemExit("crm restore: these databases are not empty: " + ", ".join(busy)
                         + " (restore into an empty data folder or server)")
    restored = {}
    for owner, counts in manifest["databases"].items():
        database = client[names[owner]]
        for collection_name in counts:
            collection = database.create_collection(collection_name)
            batch, total = [], 0
            with (source / owner / f"{collection_name}.jsonl").open(encoding="utf-8") as lines:
                for line in lines:
                    batch.append(json_util.loads(line))
                    if len(batch) >= BATCH:
                        collection.insert_many(batch, ordered=True)
                        total, batch = total + len(batch), []
            if batch:
                collection.insert_many(batch, ordered=True)
                total += len(batch)
            specs = json.loads((source / owner / f"{collection_name}.indexes.json").read_text())
            for spec in specs:
                collection.create_index([tuple(key) for key in spec["keys"]], name=spec["name"],
                                        unique=spec.get("unique", False))
            restored[f"{owner}.{collection_name}"] = total
    return restored
