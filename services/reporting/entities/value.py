"""A customer's value over every won deal, whoever won it: what an unrestricted
customer-value report (an admin's) reads a page at a time.

Not fed by events: after saving an opportunity (or a customer) the projector hands the
customer's value state the opportunity's won part (`won_part`) with the saved state's
`seq` (its saves are serialised by the state's optimistic version, so a higher `seq`
knows more), or the customer's deletion (final). A part only moves forward by `seq`, so
syncs arriving in any order, or twice, end in the same state; a redelivered event syncs
again (a crash between the two saves is repaired by the redelivery).

What it contributes (counters.CVALUE, segment "o:"), when the customer has deals and is
not deleted: bucket "h": `n` (customers), `t` (their amount), `f:<deals>` (customers
with that many deals); bucket "hr": `r:<last deal day>` (RFM's quintile counts); and its
amount's count and sum twice, at two grains: bucket `h:<digits>` field `n:`/`c:` +
the first two digits (coarse), bucket `i:<digits><first two>` field `n:`/`c:` + the
third (fine). The ABC running sums are walked over the coarse counts, then the fine
counts of the one coarse bucket that matters, then the rows of one fine bucket (an
amount to 3 significant digits), each a small read. Its `vkey` (amount counted down,
then id, as text: one sort key, no tie-breaker) is the top-level field the store
indexes, so a page is a range of that index.
"""
from __future__ import annotations

from services.reporting.counters import CVALUE, ORG_ROLLUP, Vector, add

TYPE = "value"
# counter buckets, named so that one range reads the totals and the coarse counts
# ("h" < "h:<digits>"), and, for RFM, the days too ("h:..." < "hr")
TOTALS_BUCKET = "h"
DAYS_BUCKET = "hr"  # the customers per last deal day (RFM only: not read for ABC)


def state_id(customer_id: str) -> str:
    return f"{TYPE}:{customer_id}"


def new_state(customer_id: str) -> dict:
    return {"_id": state_id(customer_id), "type": TYPE, "id": customer_id,
            "f": {"parts": [], "deleted": False}, "t": {}, "reached": [],
            "first": None, "seen": [], "applied": [], "vkey": None}


def won_part(state: dict) -> tuple[str | None, dict | None]:
    """(the customer, {c, on}) an opportunity's state adds to a customer's value (a won
    deal), or (its customer, None)."""
    f = state["f"]
    customer = f.get("customer_id")
    if f.get("status") != "won" or not customer:
        return customer, None
    won = f.get("won_amount")
    return customer, {"c": (f.get("amount") or 0) if won is None else won,
                      "on": f.get("closed_on")}


def with_part(state: dict, source: str, seq: int, part: dict | None) -> dict | None:
    """The state once opportunity `source` says `part` as of its `seq`-th save (None:
    nothing changes). A part that goes stays as a tombstone: an older sync arriving
    later must not bring it back."""
    parts = state["f"]["parts"]
    have = next((p for p in parts if p["o"] == source), None)
    if have is not None and have["s"] >= seq:
        return None
    if have is None and part is None:
        return None
    entry = {"o": source, "s": seq, "c": None, "on": None}
    if part is not None:
        entry.update(c=part["c"], on=part["on"])
    kept = [p for p in parts if p["o"] != source] + [entry]
    return {**state, "f": {**state["f"], "parts": sorted(kept, key=lambda p: p["o"])}}


def with_deleted(state: dict) -> dict | None:
    """The state once its customer is deleted (final: no event brings a customer back)."""
    if state["f"].get("deleted"):
        return None
    return {**state, "f": {**state["f"], "deleted": True}}


def totals(state: dict) -> tuple[int, int, str | None]:
    """(deals, amount in cents, last deal day) over its won parts."""
    live = [p for p in state["f"]["parts"] if p["c"] is not None]
    days = [p["on"] for p in live if p["on"]]
    return len(live), sum(p["c"] for p in live), max(days) if days else None


def is_live(state: dict) -> bool:
    return not state["f"].get("deleted") and totals(state)[0] > 0


TOP = 10 ** 18  # sort keys count down from here (amounts in cents stay far below)


def amount_key(cents: int) -> str:
    """Digits and first three digits of an amount ("05123" for 512,345 cents; below
    1000 cents the amount itself): the fine bucket it falls in. Negative amounts (not
    expected) share "00000". In (digits, mantissa) order the buckets order the amounts."""
    if cents < 0:
        return "00000"
    if cents < 1000:
        return f"03{cents:03d}"
    digits = len(str(cents))
    return f"{digits:02d}{cents // 10 ** (digits - 3):03d}"


def key_bounds(key: str) -> tuple[int, int]:
    """The amounts (cents, inclusive) of a bucket: a fine key (5 characters) or a
    coarse one (its first 4: ten fine buckets)."""
    if key.startswith("00"):
        return -(2 ** 62), -1
    digits = int(key[:2])
    unit = 10 ** (digits - 3)
    if len(key) == 5:
        return int(key[2:]) * unit, (int(key[2:]) + 1) * unit - 1
    return int(key[2:]) * 10 * unit, (int(key[2:]) + 1) * 10 * unit - 1


def coarse_bucket(key: str) -> str:
    """The counter bucket holding the coarse counts of a key's digits."""
    return f"h:{key[:2]}"


def fine_bucket(key: str) -> str:
    """The counter bucket holding the fine counts inside a coarse bucket."""
    return f"i:{key[:4]}"


def sort_key(cents: int, customer_id: str = "") -> str:
    """Ascending order of it = the report's order (amount down, then id)."""
    return f"{TOP - cents:020d}|{customer_id}"


def amount_of(key: str) -> int:
    return TOP - int(key[:20])


def range_keys(low: int, high: int) -> tuple[str, str]:
    """[first, past the last) sort keys of the amounts low..high."""
    return sort_key(high), f"{TOP - low:020d}}}"  # "}" sorts after "|"


def contributions(state: dict) -> Vector:
    vec: Vector = {}
    if not is_live(state):
        return vec
    deals, cents, last = totals(state)
    add(vec, CVALUE, ORG_ROLLUP, [TOTALS_BUCKET], "n")
    add(vec, CVALUE, ORG_ROLLUP, [TOTALS_BUCKET], "t", cents)
    add(vec, CVALUE, ORG_ROLLUP, [TOTALS_BUCKET], f"f:{deals}")
    add(vec, CVALUE, ORG_ROLLUP, [DAYS_BUCKET], f"r:{last or '-'}")
    key = amount_key(cents)
    for bucket, part in ((coarse_bucket(key), key[2:4]), (fine_bucket(key), key[4])):
        add(vec, CVALUE, ORG_ROLLUP, [bucket], f"n:{part}")
        add(vec, CVALUE, ORG_ROLLUP, [bucket], f"c:{part}", cents)
    return vec


def rank(state: dict) -> str | None:
    """The indexed sort key `vkey` (None: not in the report)."""
    return sort_key(totals(state)[1], state["id"]) if is_live(state) else None
