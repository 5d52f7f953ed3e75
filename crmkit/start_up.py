"""What every long-running process does once it has built what it runs: each API worker
(gunicorn's `post_worker_init`, under `crm serve` and the containers' configs alike) and
each `crm worker`."""
from __future__ import annotations

import gc


def freeze_start_up(worker=None) -> None:
    """Keep what start-up built (modules, the app, schemas, pypinyin's dictionaries:
    most of a process's objects, and never garbage) out of every later garbage
    collection. A full collection walked all of them: 250,000 objects and ~45 ms in a
    customer API worker (every thread of the worker stopped meanwhile), ~11 ms in a
    reporting one; now only what requests and events made. `worker`: gunicorn's, unused."""
    gc.collect()   # start-up's own garbage first: what is frozen is never collected
    gc.freeze()
