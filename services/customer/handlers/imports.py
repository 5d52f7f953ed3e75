"""Importing customers from a spreadsheet: good rows created, the others reported."""
from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from crmkit.clock import as_utc
from crmkit.errors import Invalid, NotFound
from crmkit.events import to_envelopes
from crmkit.identity import Identity

from services.customer import fields as F
from services.customer import naming, numbering, transfer
from services.customer.access import MANAGER_FIELDS, fields_not_allowed
from services.customer.domain import Customer
from services.customer.handlers.base import PRODUCER, HandlerBase, match_summary, new_id
from services.customer.repository import ImportChunk

IMPORT_RUN = "customer_import"   # the kind of background run an import started so is
# At most this many duplicates and errors kept in a background import's result (its
# document stays far below the database's 16 MB); the totals say how many there were.
RUN_REPORT_LIMIT = 2000
CHECK_PROGRESS_ROWS = 500    # rows checked between two progress reports
IMPORT_CHUNK = 250           # customers whose events share one outbox document
RESERVE_BATCH = 250          # names reserved by one query and one write (a longer
#                              $in is too deep an SQL expression for FerretDB)

T = TypeVar("T")
R = TypeVar("R")


def made_ahead(make: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """`make(item)` for each item in order, the next one made in a thread while the
    caller uses the one it was given: making a chunk (its documents, search terms and
    events) is Python work, writing it mostly waiting on the database. The thread runs
    in the caller's context (the request's correlation id goes into the events)."""
    with ThreadPoolExecutor(1, thread_name_prefix="import") as pool:
        ahead = None
        for item in items:
            following = pool.submit(contextvars.copy_context().run, make, item)
            if ahead is not None:
                yield ahead.result()
            ahead = following
        if ahead is not None:
            yield ahead.result()


def no_progress(phase: str, done: int, total: int | None = None) -> None:
    """`import_customers` run as one request: nobody follows its progress."""


def kept_report(result: dict) -> dict:
    """An import's result as a background run keeps it: its first RUN_REPORT_LIMIT
    duplicates and errors, with their totals."""
    return {**result, "duplicates": result["duplicates"][:RUN_REPORT_LIMIT],
            "errors": result["errors"][:RUN_REPORT_LIMIT],
            "duplicates_total": len(result["duplicates"]),
            "errors_total": len(result["errors"])}


class ImportHandlers(HandlerBase):
    def start_import(self, content: bytes, filename: str | None, actor: Identity, *,
                     in_pool: bool = False) -> dict:
        """`import_customers` as a background run (its status: `import_run`); the file
        is checked to be a spreadsheet with a customer column before it is accepted."""
        transfer.import_header(content, filename)
        if self.runs is None:
            raise RuntimeError("background imports need the service's BackgroundRuns")

        def work(progress) -> dict:
            return kept_report(self.import_customers(content, filename, actor,
                                                     in_pool=in_pool, progress=progress))

        return self.runs.start(IMPORT_RUN, actor.user_id, work,
                               details={"filename": filename, "in_pool": in_pool})

    def import_run(self, run_id: str, viewer: Identity) -> dict:
        """A background import's status: its starter's and the admins' to see."""
        run = self.runs.get(run_id) if self.runs is not None else None
        if run is None or run["kind"] != IMPORT_RUN or not (
                run["owner_id"] == viewer.user_id or viewer.is_admin):
            raise NotFound("没有这个导入任务 / No such import.")
        return run

    def import_runs(self, viewer: Identity, *, limit: int = 20) -> list[dict]:
        """The caller's latest background imports (an admin's: everyone's)."""
        if self.runs is None:
            return []
        owner = None if viewer.is_admin else viewer.user_id
        return self.runs.recent(IMPORT_RUN, owner, limit=limit)

    def import_customers(self, content: bytes, filename: str | None, actor: Identity, *,
                         in_pool: bool = False, progress=no_progress) -> dict:
        """Good rows are created (each in full), duplicates and bad rows reported by row.
        `progress(phase, done, total)`: reading, checking (rows), writing (customers)."""
        progress("reading", 0)
        rows = transfer.parse_import(content, filename)
        errors: list[dict] = []
        duplicates: list[dict] = []
        good: list[tuple[int, dict, str]] = []
        first_row_of: dict[str, tuple[int, str]] = {}
        dictionary = self.org_settings.current() if self.org_settings else None
        for checked, (row, command) in enumerate(rows):
            if checked % CHECK_PROGRESS_ROWS == 0:
                progress("checking", checked, len(rows))
            refused = fields_not_allowed(actor, command)
            if refused:
                errors.extend({"row": row, "field": field, "code": "field_not_allowed",
                               "message": MANAGER_FIELDS[field]} for field in refused)
                continue
            try:
                F.clean_customer(command, partial=False)
                self.require_dictionary(command, dictionary)
            except Invalid as error:
                for field, messages in sorted(error.errors.items()):
                    for message in messages:
                        errors.append({"row": row, "field": field, "message": message,
                                       "code": error.code})
                continue
            normalized = naming.normalize_name(command["name"])
            if normalized in first_row_of:
                earlier_row, earlier_name = first_row_of[normalized]
                duplicates.append({"row": row, "matches": [
                    {"row": earlier_row, "name": earlier_name}]})
                continue
            first_row_of[normalized] = (row, command["name"])
            good.append((row, command, normalized))
        now = self.now()
        day = numbering.number_day(now, self.tz)
        first = (self.repository.names.next_serials(numbering.day_key(day), len(good))
                 if good else 0)
        created: list[Customer] = []
        held: list[tuple[int, str]] = []
        for start in range(0, len(good), RESERVE_BATCH):
            batch = []
            for offset, (row, command, normalized) in enumerate(
                    good[start:start + RESERVE_BATCH], start):
                number = numbering.format_number(day, first + offset)
                batch.append((row, normalized, Customer.create(
                    actor, command, customer_id=number, number=number, contact_id=new_id(),
                    now=now, in_pool=in_pool)))
            holders = self.repository.names.reserve_many(
                {normalized: customer.id for _, normalized, customer in batch}, now)
            for row, normalized, customer in batch:
                if normalized in holders:
                    held.append((row, holders[normalized]))
                else:
                    created.append(customer)
        summaries = {d["_id"]: match_summary(d)
                     for d in self.repository.find_by_ids({h for _, h in held})}
        for row, holder in held:
            duplicates.append({"row": row, "matches": [summaries.get(holder, {"id": holder})]})
        import_id = new_id()

        def make(chunk: list[Customer]) -> ImportChunk:
            envelopes = [envelope for customer in chunk for envelope in to_envelopes(
                customer.events, producer=PRODUCER, actor_id=actor.user_id)]
            return ImportChunk.of(new_id(), chunk, envelopes)

        chunks = (created[start:start + IMPORT_CHUNK]
                  for start in range(0, len(created), IMPORT_CHUNK))
        written: list[tuple[str, bool]] = []   # (chunk id, whether it holds events)
        progress("writing", 0, len(created))
        try:
            for chunk in made_ahead(make, chunks):
                # stamped with its own time: the recovery job takes a chunk left
                # `writing` 5 minutes after it was begun, not after the import was (a
                # long import's last chunks would be taken while being written)
                self.repository.write_import_chunk(chunk, import_id, self.now())
                written.append((chunk.id, chunk.holds_events))
                progress("writing", min(len(written) * IMPORT_CHUNK, len(created)),
                         len(created))
        finally:   # what was written, even if a later chunk failed
            self.repository.release_import_chunks(written)
        duplicates.sort(key=lambda d: d["row"])
        return {"created": len(created), "duplicates": duplicates, "errors": errors,
                "numbers": [c.number for c in created[:1000]]}

    def recover_imports(self, now: datetime) -> None:
        """Finish chunks a crash left half-written (the periodic job)."""
        self.repository.recover_import_chunks(as_utc(now) - timedelta(minutes=5))
