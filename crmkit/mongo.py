"""The Mongo client factory: a pymongo client, or mongomock behind the same interface.

Repositories never know which one they have. mongomock applies a conditional update as
"find, then modify" without a lock, so concurrent threads could both win a race that a
real server decides for exactly one; the factory therefore hands out mongomock
collections whose single-document writes are serialised, which is the guarantee MongoDB
itself gives.
"""
from __future__ import annotations

import threading

import pymongo

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()

_WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one",
    "delete_one", "delete_many", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete", "bulk_write", "find_one", "count_documents", "create_index",
    "create_indexes", "drop", "aggregate", "distinct",
})


def mongo_client(url: str):
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = _connect(url)
        return client


def get_database(url: str, name: str):
    return mongo_client(url)[name]


def reset_mongomock() -> None:
    """Forget in-memory databases (tests)."""
    with _clients_lock:
        for url in [u for u in _clients if u.startswith("mongomock://")]:
            del _clients[url]


def _connect(url: str):
    if url.startswith("mongomock://"):
        import mongomock

        return _SerialisedClient(mongomock.MongoClient(tz_aware=True))
    return pymongo.MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000,
                               retryWrites=True)


class _SerialisedClient:
    def __init__(self, client):
        self._client = client
        self._lock = threading.RLock()
        self._databases: dict[str, _SerialisedDatabase] = {}

    def __getitem__(self, name):
        return self.get_database(name)

    def get_database(self, name, **_):
        with self._lock:
            if name not in self._databases:
                self._databases[name] = _SerialisedDatabase(self._client[name], self._lock)
            return self._databases[name]

    def drop_database(self, name):
        with self._lock:
            self._client.drop_database(name)
            self._databases.pop(name, None)

    def __getattr__(self, item):
        return getattr(self._client, item)


class _SerialisedDatabase:
    def __init__(self, database, lock):
        self._database = database
        self._lock = lock
        self._collections: dict[str, _SerialisedCollection] = {}

    @property
    def name(self):
        return self._database.name

    def __getitem__(self, name):
        return self.get_collection(name)

    def get_collection(self, name, **_):
        collection = self._collections.get(name)
        if collection is None:
            inner = self._database[name]
            _add_id_fast_path(inner)
            collection = self._collections[name] = _SerialisedCollection(inner, self._lock)
        return collection

    def command(self, command, *args, **kwargs):
        if command == "ping" or command == {"ping": 1}:
            return {"ok": 1.0}
        return self._database.command(command, *args, **kwargs)

    def __getattr__(self, item):
        return getattr(self._database, item)


_SCALAR_IDS = (str, int)


def _wanted_ids(condition) -> list | None:
    """The `_id`s a filter names outright (a scalar or {"$in": [scalars]}); else None."""
    def scalar(value):
        return isinstance(value, _SCALAR_IDS) and not isinstance(value, bool)

    if scalar(condition):
        return [condition]
    if isinstance(condition, dict) and list(condition) == ["$in"] \
            and isinstance(condition["$in"], (list, tuple)) and all(map(scalar, condition["$in"])):
        return list(dict.fromkeys(condition["$in"]))
    return None


def _add_id_fast_path(collection) -> None:
    """mongomock scans every document for every query, `_id` lookups included; answer
    a filter naming its `_id`s (one, or `$in` a list) from the store's dict instead.
    Same documents; without a sort their order is unspecified, as on a real server."""
    from mongomock.filtering import filter_applies

    scan = collection._iter_documents

    def iter_documents(filter):
        ids = _wanted_ids(filter.get("_id")) if isinstance(filter, dict) else None
        if ids is None:
            return scan(filter)
        store = collection._store
        found = [store[_id] for _id in ids if _id in store]
        return iter([doc for doc in found if filter_applies(filter, doc)])

    collection._iter_documents = iter_documents


class _SerialisedCollection:
    def __init__(self, collection, lock):
        self._collection = collection
        self._lock = lock

    def find(self, *args, **kwargs):
        return _LazyCursor(self._collection, self._lock, args, kwargs)

    def __getattr__(self, item):
        attribute = getattr(self._collection, item)
        if item in _WRITE_METHODS:
            lock = self._lock

            def serialised(*args, **kwargs):
                with lock:
                    return attribute(*args, **kwargs)

            return serialised
        return attribute


class _LazyCursor:
    """A cursor that runs the query under the lock when first iterated.

    A cursor iterated while another thread writes could see a half-applied update, so
    the result is materialised in one locked step, with sort/skip/limit pushed down.
    """

    def __init__(self, collection, lock, args, kwargs):
        self._collection, self._lock = collection, lock
        self._args, self._kwargs = args, dict(kwargs)
        self._results = None

    def sort(self, key_or_list, direction=None):
        if isinstance(key_or_list, str):
            key_or_list = [(key_or_list, direction or 1)]
        self._kwargs["sort"] = list(key_or_list)
        return self

    def skip(self, count):
        self._kwargs["skip"] = count
        return self

    def limit(self, count):
        self._kwargs["limit"] = count
        return self

    def batch_size(self, _):
        return self

    def close(self):
        pass

    def _materialise(self):
        if self._results is None:
            with self._lock:
                self._results = list(self._collection.find(*self._args, **self._kwargs))
        return self._results

    def __iter__(self):
        return iter(self._materialise())

    def __len__(self):
        return len(self._materialise())

    def __getitem__(self, index):
        return self._materialise()[index]
