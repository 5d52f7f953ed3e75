"""The Mongo client factory: one pymongo client per URL and process.

The server is MongoDB (>= 6) in production and FerretDB 1.24 locally; repositories never
know which (docs/database.md lists what both support and so what the code may use).
"""
from __future__ import annotations

import threading

import pymongo
import pymongo.errors

_clients: dict[str, pymongo.MongoClient] = {}
_clients_lock = threading.Lock()


def mongo_client(url: str) -> pymongo.MongoClient:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = pymongo.MongoClient(
                url, tz_aware=True, serverSelectionTimeoutMS=5000, retryWrites=True)
        return client


def get_database(url: str, name: str):
    return mongo_client(url)[name]


def drop_indexes(collection, names) -> None:
    """Drop the indexes named `names` that `collection` has (retired ones, at start); the
    service's other process may drop one first."""
    present = collection.index_information()
    for name in names:
        if name in present:
            try:
                collection.drop_index(name)
            except pymongo.errors.OperationFailure:
                pass
