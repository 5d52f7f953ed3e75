"""The search rows a customer document stands for, their digest and the difference a
save writes (services/customer/terms_repository.py): plain functions, no server."""
from __future__ import annotations

from customer_fixtures import REP, make_customer

from services.customer.documents import customer_doc
from services.customer.terms_repository import (first_of_run, possible_row_ids, row_changes,
                                                row_id, rows_digest, wanted_rows)


def doc(search, public=(), **extra) -> dict:
    return {"_id": "c1", "search_terms": list(search), "public_terms": list(public),
            "deleted": False, **extra}


def terms_of(rows: dict) -> dict[str, bool]:
    return {row["term"]: row["public"] for row in rows.values()}


def test_a_term_starting_a_longer_one_as_public_has_no_row():
    rows = wanted_rows(doc(["sc", "sckj", "138", "13812", "商策"], public=["sc", "sckj"]))
    assert terms_of(rows) == {"sckj": True, "13812": False, "商策": False}
    assert all(key == row_id("c1", row["term"], row["public"], row["lcp"],
                             row.get("lcp_public")) for key, row in rows.items())
    assert all(("lcp_public" in row) == row["public"] for row in rows.values())


def test_a_public_term_keeps_its_row_when_only_a_private_one_is_longer():
    rows = wanted_rows(doc(["ab", "abc", "abd"], public=["ab", "abd"]))
    # abd (public) starts with ab: ab goes; abc stays private
    assert terms_of(rows) == {"abc": False, "abd": True}
    rows = wanted_rows(doc(["ab", "abc"], public=["ab"]))
    assert terms_of(rows) == {"ab": True, "abc": False}


def test_every_prefix_of_every_term_still_finds_the_customer_as_before():
    """What `q` finds is unchanged: each prefix of a stored term starts a row's term,
    of a public row where the term was public."""
    stored = customer_doc(make_customer(REP))
    rows = wanted_rows(stored)
    public = set(stored["public_terms"])
    assert len(rows) < len(stored["search_terms"])
    for term in stored["search_terms"]:
        for end in range(1, len(term) + 1):
            prefix = term[:end]
            found = [r for r in rows.values() if r["term"].startswith(prefix)]
            assert found, prefix
            if term in public:
                assert any(r["public"] for r in found), prefix
    for row in rows.values():       # and no row matches what no stored term matched
        assert row["term"] in stored["search_terms"]
        assert row["public"] == (row["term"] in public)


def test_a_deleted_customer_has_no_rows():
    assert wanted_rows(doc(["abc"], deleted=True)) == {}
    assert possible_row_ids(doc(["abc"], deleted=True)) == set()


def test_the_digest_is_that_of_the_rows_whatever_their_order():
    rows = wanted_rows(doc(["abc", "xyz"], public=["abc"]))
    assert rows_digest(rows) == rows_digest(list(reversed(list(rows))))
    assert rows_digest(rows) != rows_digest(wanted_rows(doc(["abc", "xyz"])))  # public
    assert rows_digest(rows) != rows_digest(wanted_rows(doc(["abc", "xyw"], ["abc"])))
    assert rows_digest({}) == rows_digest([])


def test_a_save_that_changes_no_term_keeps_the_digest_and_a_rename_changes_it():
    customer = make_customer(REP)
    digest = rows_digest(wanted_rows(customer_doc(customer)))
    customer.update(REP, {"level": "A", "needs": "别的需求"})
    assert rows_digest(wanted_rows(customer_doc(customer))) == digest
    customer.update(REP, {"name": "杭州云帆物流有限公司"})
    assert rows_digest(wanted_rows(customer_doc(customer))) != digest


def test_the_difference_inserts_the_new_rows_and_deletes_the_stale_ones():
    before = doc(["abc", "shared"], public=["abc"])
    after = wanted_rows(doc(["abd", "shared"], public=["abd"]))
    missing, stale = row_changes(before, after)
    assert terms_of({r["_id"]: r for r in missing}) == {"abd": True}
    # "shared" keeps its row; the ids of rows before they carried `lcp` (and
    # `lcp_public`) go too
    assert stale == sorted([row_id("c1", "abc", True, 0, 0), row_id("c1", "abc", True, 0),
                            row_id("c1", "abc", True), row_id("c1", "shared", False)])
    # the same terms: nothing to insert
    assert row_changes(before, wanted_rows(before))[0] == []


def test_the_difference_deletes_rows_an_earlier_version_wrote_for_shorter_terms():
    """Before `wanted_rows` left them out (and before rows carried `lcp`), every term had
    a row: a document without the flag may have those, and a change deletes them too."""
    before = doc(["sc", "sckj"], public=["sc", "sckj"])
    missing, stale = row_changes(before, wanted_rows(doc(["hx", "hxmy"], ["hx", "hxmy"])))
    assert [r["term"] for r in missing] == ["hxmy"]
    assert stale == sorted([row_id("c1", "sc", True), row_id("c1", "sckj", True),
                            row_id("c1", "sckj", True, 0), *wanted_rows(before)])
    # the customer deleted: every row it may have goes
    assert row_changes(before, {}) == ([], stale)


def test_a_prefix_finds_one_row_per_customer_and_a_changed_neighbour_is_a_new_row():
    """`first_of_run`: of a customer's rows whose terms start with a prefix, exactly one
    has fewer leading characters in common with the term before it than the prefix has,
    and of its public rows exactly one has with the public term before it (where a public
    term starts with the prefix); random terms over a small alphabet, so that many share
    prefixes."""
    import random

    randomness = random.Random(3)
    for _ in range(300):
        terms = {"".join(randomness.choice("ab科") for _ in range(randomness.randint(1, 5)))
                 for _ in range(randomness.randint(1, 25))}
        public = {t for t in terms if randomness.random() < 0.5}
        rows = list(wanted_rows(doc(sorted(terms), sorted(public))).values())
        for prefix in {t[:n] for t in terms for n in range(1, len(t) + 1)} | {"b科b"}:
            for shown, field in ((False, "lcp"), (True, "lcp_public")):
                below = first_of_run(prefix, public=shown)[field]["$lt"]
                first = [r for r in rows if field in r and r[field] < below
                         and r["term"].startswith(prefix)]
                wanted = any(t.startswith(prefix) for t in (public if shown else terms))
                assert len(first) == (1 if wanted else 0), (prefix, terms, public, shown)
    # a term whose neighbour changed has another `lcp`: another row
    before = doc(["abc", "abd"], public=["abd"])
    missing, stale = row_changes(before, wanted_rows(doc(["abd"], public=["abd"])))
    assert [(r["term"], r["lcp"]) for r in missing] == [("abd", 0)]
    assert set(wanted_rows(before)) <= set(stale)


def test_a_term_turned_private_is_a_new_row():
    before = doc(["abc"], public=["abc"])
    missing, stale = row_changes(before, wanted_rows(doc(["abc"])))
    assert [(r["term"], r["public"]) for r in missing] == [("abc", False)]
    assert stale == sorted([row_id("c1", "abc", True), row_id("c1", "abc", True, 0),
                            *wanted_rows(before)])


def test_the_rows_are_those_no_longer_term_at_least_as_public_starts():
    """`wanted_rows` compares each term with the next one in sorted order only: the
    same rows as comparing it with every other term (random terms over a small
    alphabet, so that many start others)."""
    import random

    randomness = random.Random(14)
    for _ in range(300):
        terms = {"".join(randomness.choice("ab科") for _ in range(randomness.randint(1, 4)))
                 for _ in range(randomness.randint(0, 25))}
        public = {t for t in terms if randomness.random() < 0.5}
        expected = {t: t in public for t in terms if not any(
            other != t and other.startswith(t) and (other in public or t not in public)
            for other in terms)}
        assert terms_of(wanted_rows(doc(sorted(terms), sorted(public)))) == expected


def test_each_grantee_of_a_share_is_a_row_no_search_reaches():
    from services.customer import naming
    from services.customer.terms_repository import share_term

    shared = doc(["abc"], shared_with=["u1", "u2"], shared_teams=["east/a/"], number="C-1")
    rows = wanted_rows(shared)
    grants = {r["term"]: r for r in rows.values() if r["term"].startswith("\x1e")}
    assert set(grants) == {share_term(user_id="u1"), share_term(user_id="u2"),
                           share_term(team="east/a")}
    assert all(not r["public"] and r["number"] == "C-1" for r in grants.values())
    assert set(grants) <= {r["term"] for r in rows.values()} and "abc" in terms_of(rows)
    assert all(not term.startswith(naming.query_term(term)) for term in grants)
    # a share changes the digest (the save then syncs the rows); an unshare deletes them
    assert rows_digest(rows) != rows_digest(wanted_rows(doc(["abc"])))
    missing, stale = row_changes(shared, wanted_rows(doc(["abc"], shared_with=["u2"])))
    assert missing == [] and set(stale) == {row_id("c1", share_term(user_id="u1"), False),
                                            row_id("c1", share_term(team="east/a"), False),
                                            row_id("c1", "abc", False)}   # (without lcp)
    assert wanted_rows({**shared, "deleted": True}) == {}
