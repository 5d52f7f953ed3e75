"""Contracts service use cases: load, apply the rules, save state and events in one write
(`crmkit.commands.CommandRunner`), and the reports over what the caller may see."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Callable

from crmkit.clock import local_date, utcnow
from crmkit.commands import CommandRunner, Noun
from crmkit.errors import Invalid, NotFound
from crmkit.identity import Identity
from crmkit.money import parse_money

from services.contracts.access import require_customer, require_edit, require_read
from services.contracts.contract import Contract
from services.contracts.ownership import CustomerCopy, OpportunityCopy, Owned
from services.contracts.quote import Quote
from services.contracts.receivables import (BUCKETS, ZERO, amount_vs_collected,
                                            collections_by_month)
from services.contracts.repository import conflict_number

PRODUCER = "contracts"
QUOTE, CONTRACT = Noun("quote", "报价"), Noun("contract", "合同")
COPY = Noun("copy", "副本")
QUOTE_WHAT, CONTRACT_WHAT = "Quote / 报价", "Contract / 合同"
RECEIVABLE_STATUSES = ("active", "completed")
NUMBER_ATTEMPTS = 20


class ContractsHandlers:
    def __init__(self, repo, directory, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.directory = directory
        self.clock = clock
        self.quote_system = CommandRunner(load=self._quote, save=repo.save_quote,
                                          producer=PRODUCER, noun=QUOTE)

    def today(self) -> date:
        return local_date(self.clock())

    # ------------------------------------------------------------------ quotes

    def create_quote(self, command: dict, viewer: Identity) -> Quote:
        opportunity = self.repo.opportunity(command["opportunity_id"])
        customer = self.repo.customer(opportunity.customer_id) if opportunity else None
        if opportunity is None or customer is None or not customer.exists:
            raise Invalid({"opportunity_id": ["Unknown opportunity. / 商机不存在或无权查看。"]},
                          code="unknown_opportunity")
        try:
            owned = require_customer(viewer, customer.as_owned(), "opportunity_id")
        except Invalid:
            raise Invalid({"opportunity_id": ["Unknown opportunity. / 商机不存在或无权查看。"]},
                          code="unknown_opportunity") from None
        now = self.clock()
        day = local_date(now).strftime("%Y%m%d")
        number = f"QT{day}{self.repo.next_serial('quote', day):04d}"
        quote = Quote.make(id=uuid.uuid4().hex, number=number,
                           opportunity_id=opportunity.id, owned=owned,
                           lines=command["lines"], currency=command.get("currency", "CNY"),
                           valid_until=command.get("valid_until"), notes=command.get("notes"),
                           actor_id=viewer.user_id, now=now)
        self.quote_system.create(quote, self.repo.add_quote, actor_id=viewer.user_id)
        self.reconcile(customer.customer_id)
        return self.repo.get_quote(quote.id) or quote

    def get_quote(self, quote_id: str, viewer: Identity) -> Quote:
        return require_read(viewer, self.repo.get_quote(quote_id), QUOTE_WHAT)

    def list_quotes(self, viewer: Identity, query: dict):
        return self.repo.list_quotes(viewer, query)

    def update_quote(self, quote_id, changes, viewer, expected_version=None) -> Quote:
        return self._edit_quote(quote_id, viewer, lambda q: q.update(
            changes, now=self.clock()), expected_version)

    def quote_status(self, quote_id, status, viewer, expected_version=None) -> Quote:
        return self._edit_quote(quote_id, viewer, lambda q: q.move_to(
            status, now=self.clock()), expected_version)

    def _edit_quote(self, quote_id, viewer, action, expected_version) -> Quote:
        runner = CommandRunner(
            load=lambda i: require_edit(viewer, self.repo.get_quote(i), QUOTE_WHAT),
            save=self.repo.save_quote, producer=PRODUCER, noun=QUOTE)
        return runner.run(quote_id, action, actor_id=viewer.user_id,
                          expected_version=expected_version)[0]

    def _quote(self, quote_id: str) -> Quote:
        quote = self.repo.get_quote(quote_id)
        if quote is None:
            raise NotFound("Quote not found. / 报价不存在。")
        return quote

    # ------------------------------------------------------------------ contracts

    def create_contract(self, command: dict, viewer: Identity) -> Contract:
        customer = self.repo.customer(command["customer_id"])
        owned = require_customer(viewer, customer.as_owned()
                                 if customer and customer.exists else None)
        self._check_links(command, owned, viewer)
        contract = self._new_contract(
            owned=owned, number=command.get("number"), amount=command["amount"],
            signed_on=command["signed_on"], opportunity_id=command.get("opportunity_id"),
            quote_id=command.get("quote_id"), starts_on=command.get("starts_on"),
            ends_on=command.get("ends_on"), currency=command.get("currency", "CNY"),
            notes=command.get("notes"), source="api", actor_id=viewer.user_id,
            contract_id=uuid.uuid4().hex)
        return self.repo.get_contract(contract.id) or contract

    def _check_links(self, command: dict, owned: Owned, viewer: Identity) -> None:
        if command.get("opportunity_id"):
            opp = self.repo.opportunity(command["opportunity_id"])
            if opp is None or opp.customer_id != owned.customer_id:
                raise Invalid({"opportunity_id": [
                    "Not an opportunity of this customer. / 不是该客户的商机。"]},
                    code="unknown_opportunity")
        if command.get("quote_id"):
            quote = self.repo.get_quote(command["quote_id"])
            if quote is None or quote.customer_id != owned.customer_id or (
                    command.get("opportunity_id")
                    and quote.opportunity_id != command["opportunity_id"]):
                raise Invalid({"quote_id": ["Not a quote of this customer / opportunity. "
                                            "/ 不是该客户或商机的报价。"]},
                              code="unknown_quote")

    def _new_contract(self, *, owned: Owned, number: str | None, contract_id: str,
                      actor_id: str | None, **terms) -> Contract:
        now = self.clock()
        if number:
            holder = self.repo.reserve_number(number, contract_id, now)
            if holder is not None:
                raise conflict_number(number)
        else:
            number = self._generated_number(contract_id, now)
        contract = Contract.make(id=contract_id, number=number, owned=owned,
                                 actor_id=actor_id, now=now, **terms)
        runner = CommandRunner(load=self._contract, save=self.repo.save_contract,
                               producer=PRODUCER, noun=CONTRACT)
        runner.create(contract, self.repo.add_contract, actor_id=actor_id)
        self.reconcile(owned.customer_id)
        return contract

    def _generated_number(self, contract_id: str, now: datetime) -> str:
        day = local_date(now).strftime("%Y%m%d")
        for _ in range(NUMBER_ATTEMPTS):   # a hand-given number may hold a serial
            number = f"HT{day}{self.repo.next_serial('contract', day):04d}"
            if self.repo.reserve_number(number, contract_id, now) is None:
                return number
        raise conflict_number(number)

    def get_contract(self, contract_id: str, viewer: Identity) -> Contract:
        return require_read(viewer, self.repo.get_contract(contract_id), CONTRACT_WHAT)

    def list_contracts(self, viewer: Identity, query: dict):
        return self.repo.list_contracts(viewer, query)

    def update_contract(self, contract_id, changes, viewer, expected_version=None):
        return self._edit_contract(contract_id, viewer, lambda c: c.update(
            changes, now=self.clock()), expected_version)[0]

    def contract_status(self, contract_id, status, viewer, expected_version=None):
        return self._edit_contract(contract_id, viewer, lambda c: c.move_to(
            status, now=self.clock()), expected_version)[0]

    def set_plan(self, contract_id, installments, viewer, expected_version=None):
        return self._edit_contract(contract_id, viewer, lambda c: c.set_plan(
            installments, now=self.clock()), expected_version)[0]

    def receive_payment(self, contract_id, payment: dict, viewer) -> Contract:
        return self._edit_contract(contract_id, viewer, lambda c: c.receive(
            payment, actor_id=viewer.user_id, now=self.clock()))[0]

    def record_cost(self, contract_id, cost: dict, viewer) -> Contract:
        return self._edit_contract(contract_id, viewer, lambda c: c.record_cost(
            cost, actor_id=viewer.user_id, now=self.clock()))[0]

    def _edit_contract(self, contract_id, viewer, action, expected_version=None):
        runner = CommandRunner(
            load=lambda i: require_edit(viewer, self.repo.get_contract(i), CONTRACT_WHAT),
            save=self.repo.save_contract, producer=PRODUCER, noun=CONTRACT)
        return runner.run(contract_id, action, actor_id=viewer.user_id,
                          expected_version=expected_version)

    def _contract(self, contract_id: str) -> Contract:
        contract = self.repo.get_contract(contract_id)
        if contract is None:
            raise NotFound("Contract not found. / 合同不存在。")
        return contract

    # ------------------------------------------------------------------ reports

    def receivables(self, viewer: Identity, query: dict) -> dict:
        as_of = query.get("as_of") or self.today()
        rows = []
        totals = {"receivable": ZERO, "not_due": ZERO, "overdue_amount": ZERO,
                  "ageing": {bucket: ZERO for bucket in BUCKETS}}
        for contract in self.repo.visible_contracts(viewer, query, RECEIVABLE_STATUSES):
            money = contract.standing(as_of)
            if money.receivable <= 0:
                continue
            rows.append({"contract_id": contract.id, "number": contract.number,
                         "customer_id": contract.customer_id,
                         "customer_name": contract.customer_name,
                         "owner_id": contract.owner_id, "owner_team": contract.owner_team,
                         "owner_region": contract.owner_region, "status": contract.status,
                         "amount": contract.amount, "received": money.received,
                         "receivable": money.receivable, "not_due": money.not_due,
                         "overdue_amount": money.overdue_amount, "ageing": money.ageing})
            for name in ("receivable", "not_due", "overdue_amount"):
                totals[name] += getattr(money, name)
            for bucket in BUCKETS:
                totals["ageing"][bucket] += money.ageing[bucket]
        rows.sort(key=lambda r: (-r["overdue_amount"], -r["receivable"], r["number"]))
        return {"as_of": as_of, "rows": rows, "totals": totals}

    def collections(self, viewer: Identity, query: dict) -> dict:
        contracts = self.repo.visible_contracts(viewer, query, RECEIVABLE_STATUSES + (
            "terminated",))
        rows = collections_by_month((p for c in contracts for p in c.payments),
                                    query.get("from_"), query.get("to"))
        return {"rows": rows, "total": sum((r["amount"] for r in rows), ZERO)}

    def amount_vs_collected(self, viewer: Identity, query: dict) -> dict:
        group_by = query["group_by"]
        contracts = self.repo.visible_contracts(viewer, query, RECEIVABLE_STATUSES)
        field = {"owner": "owner_id", "team": "owner_team", "region": "owner_region"}[group_by]
        rows = amount_vs_collected(contracts, lambda c: getattr(c, field))
        names = self.directory.names([r["key"] for r in rows if r["key"]]) \
            if group_by == "owner" else {}
        for row in rows:
            row["label"] = names.get(row["key"], row["key"])
        return {"group_by": group_by, "rows": rows}

    # ------------------------------------------------------------------ events

    def on_customer_event(self, envelope: dict) -> None:
        customer_id = envelope["data"]["customer_id"]
        self._fold("customer", customer_id, envelope,
                   lambda i: self.repo.customer(i) or CustomerCopy(customer_id=i))
        self.reconcile(customer_id)   # always: a crash between the writes heals here

    def on_opportunity_event(self, envelope: dict) -> None:
        opportunity_id = envelope["data"]["opportunity_id"]
        self._fold("opportunity", opportunity_id, envelope,
                   lambda i: self.repo.opportunity(i) or OpportunityCopy(id=i))
        if envelope["type"] == "opportunity.won":
            self.draft_from_win(envelope)

    def _fold(self, kind: str, copy_id: str, envelope: dict, load) -> None:
        runner = CommandRunner(
            load=load, save=lambda copy, loaded, _: self.repo.save_copy(
                kind, copy, loaded, envelope["id"]),
            producer=PRODUCER, noun=COPY)
        runner.run(copy_id, lambda copy: copy.apply(envelope), actor_id=None)

    def draft_from_win(self, envelope: dict) -> Contract | None:
        """A won opportunity's `won.contract_number` becomes a draft contract for its
        customer. Its id follows from the opportunity, so a redelivered event (or a crash
        between the number's reservation and the insert) creates nothing twice."""
        data = envelope["data"]
        won = data.get("won") or {}
        contract_id = f"won-{data['opportunity_id']}"
        if not won or self.repo.get_contract(contract_id) is not None:
            return None
        number = won["contract_number"]
        taken = self.repo.contract_by_number(number)
        if taken is not None and taken.opportunity_id == data["opportunity_id"]:
            return None    # made by hand already
        customer = self.repo.customer(data["customer_id"])
        owned = customer.as_owned() if customer and customer.exists else Owned(
            customer_id=data["customer_id"], owner_id=data["owner_id"],
            owner_team=data["owner_team"], owner_region=data["owner_region"],
            region=data["region"])
        if self.repo.reserve_number(number, contract_id, self.clock()) is not None:
            number = None  # held by another contract: this one gets a generated number
        return self._new_contract(
            owned=owned, number=number, contract_id=contract_id, amount=parse_money(won["amount"]),
            signed_on=date.fromisoformat(str(won["signed_on"])),
            opportunity_id=data["opportunity_id"], currency=data.get("currency") or "CNY",
            notes=None if number else f"won.contract_number: {won['contract_number']}",
            source="opportunity.won", actor_id=envelope.get("actor_id"))

    def reconcile(self, customer_id: str) -> None:
        customer = self.repo.customer(customer_id)
        if customer is not None and customer.key is not None:
            self.repo.sync_customer(customer_id, customer.owned_fields())

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        if "team" not in profile and "region" not in profile:
            return
        user = self.directory.get(user_id) or {}
        self.repo.sync_owner_profile(user_id, user.get("team"), user.get("region"))
