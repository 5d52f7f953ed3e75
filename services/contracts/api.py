"""HTTP entry points of the contracts service (CONTRACT §9): parse, call a handler, dump
through the `Out` schemas."""
from __future__ import annotations

from crmkit.idempotency import idempotent
from crmkit.pagination import page_body
from crmkit.web import (ApiBlueprint, change_request, current_identity, json_response,
                        parse_body, parse_query)

from services.contracts import schemas

QUOTE_OUT = schemas.QuoteOutSchema()
CONTRACT_OUT = schemas.ContractOutSchema()
# the parts of a contract that depend on the day asked (installments covered, overdue)
STANDING_OUT = schemas.ContractOutSchema(only=("plan", "overdue", "overdue_amount"))
QUOTE_PAGE = schemas.QuotePageOutSchema()
CONTRACT_PAGE = schemas.ContractPageOutSchema()
RECEIVABLES_OUT = schemas.ReceivablesOutSchema()
COLLECTIONS_OUT = schemas.CollectionsOutSchema()
AMOUNT_VS_COLLECTED_OUT = schemas.AmountVsCollectedOutSchema()


def blueprint(handlers=None, idempotency=None) -> ApiBlueprint:
    api = ApiBlueprint("contracts", __name__, tag="contracts", url_prefix="/api/v1")
    if handlers is None:  # composition without adapters (topology discovery)
        return api

    def quote_reply(quote, status=200):
        return json_response(QUOTE_OUT.dump(quote), status, version=quote.version)

    def contract_body(contract):
        money = contract.standing(handlers.today())
        body = CONTRACT_OUT.dump(contract)
        extra = STANDING_OUT.dump(
            {"plan": money.installments, "overdue": money.overdue,
             "overdue_amount": money.overdue_amount})
        return {**body, **extra}

    def contract_reply(contract, status=200):
        return json_response(contract_body(contract), status, version=contract.version)

    # ------------------------------------------------------------------ quotes

    @api.operation("/quotes", "POST", summary="Make a quote for a visible opportunity "
                   "(422 unknown_opportunity otherwise); lines are quantity x unit_price "
                   "less discount percent, total is their exact sum; starts as draft",
                   body=schemas.QuoteCreateSchema, response=schemas.QuoteOutSchema,
                   status=201)
    @idempotent(lambda: idempotency)
    def create_quote():
        command = parse_body(schemas.QuoteCreateSchema)
        return quote_reply(handlers.create_quote(command, current_identity()), 201)

    @api.operation("/quotes", "GET", summary="Quotes the caller may see",
                   query=schemas.QuoteListQuery, response=schemas.QuotePageOutSchema)
    def list_quotes():
        query = parse_query(schemas.QuoteListQuery)
        items, total = handlers.list_quotes(current_identity(), query)
        return json_response(QUOTE_PAGE.dump(page_body(items, total, query["page"],
                                                       query["per_page"])))

    @api.operation("/quotes/<quote_id>", "GET", summary="Read a quote",
                   response=schemas.QuoteOutSchema)
    def get_quote(quote_id):
        return quote_reply(handlers.get_quote(quote_id, current_identity()))

    @api.operation("/quotes/<quote_id>", "PATCH", summary="Edit a draft quote (lines, "
                   "valid_until, notes, currency); If-Match: version; each edit is a new "
                   "version", body=schemas.QuotePatchSchema, response=schemas.QuoteOutSchema)
    def patch_quote(quote_id):
        viewer, expected_version, changes = change_request(schemas.QuotePatchSchema)
        return quote_reply(handlers.update_quote(quote_id, changes, viewer, expected_version))

    @api.operation("/quotes/<quote_id>/status", "POST", summary="Move a quote: draft -> "
                   "sent -> accepted | rejected; sent or rejected -> draft (409 "
                   "invalid_transition otherwise)", body=schemas.QuoteStatusSchema,
                   response=schemas.QuoteOutSchema)
    def quote_status(quote_id):
        viewer, expected_version, body = change_request(schemas.QuoteStatusSchema)
        return quote_reply(handlers.quote_status(quote_id, body["status"], viewer,
                                                 expected_version))

    # ------------------------------------------------------------------ contracts

    @api.operation("/contracts", "POST", summary="Make a contract for a visible customer; "
                   "`number` generated when absent (409 number_taken when in use); starts "
                   "as draft", body=schemas.ContractCreateSchema,
                   response=schemas.ContractOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def create_contract():
        command = parse_body(schemas.ContractCreateSchema)
        return contract_reply(handlers.create_contract(command, current_identity()), 201)

    @api.operation("/contracts", "GET", summary="Contracts the caller may see (without "
                   "plan, payments and costs: read one for those)",
                   query=schemas.ContractListQuery, response=schemas.ContractPageOutSchema)
    def list_contracts():
        query = parse_query(schemas.ContractListQuery)
        items, total = handlers.list_contracts(current_identity(), query)
        return json_response(CONTRACT_PAGE.dump(page_body(items, total, query["page"],
                                                          query["per_page"])))

    @api.operation("/contracts/<contract_id>", "GET", summary="Read a contract with its "
                   "plan, payments, costs, received, receivable and overdue installments",
                   response=schemas.ContractOutSchema)
    def get_contract(contract_id):
        return contract_reply(handlers.get_contract(contract_id, current_identity()))

    @api.operation("/contracts/<contract_id>", "PATCH", summary="Edit a draft or active "
                   "contract's terms; If-Match: version", body=schemas.ContractPatchSchema,
                   response=schemas.ContractOutSchema)
    def patch_contract(contract_id):
        viewer, expected_version, changes = change_request(schemas.ContractPatchSchema)
        return contract_reply(handlers.update_contract(contract_id, changes, viewer,
                                                       expected_version))

    @api.operation("/contracts/<contract_id>/status", "POST", summary="Move a contract: "
                   "draft -> active -> completed; draft or active -> terminated",
                   body=schemas.ContractStatusSchema, response=schemas.ContractOutSchema)
    def contract_status(contract_id):
        viewer, expected_version, body = change_request(schemas.ContractStatusSchema)
        return contract_reply(handlers.contract_status(contract_id, body["status"], viewer,
                                                       expected_version))

    @api.operation("/contracts/<contract_id>/plan", "PUT", summary="Set the payment plan; "
                   "the installments must add up to the amount (422 plan_mismatch)",
                   body=schemas.PlanSchema, response=schemas.ContractOutSchema)
    def put_plan(contract_id):
        viewer, expected_version, body = change_request(schemas.PlanSchema)
        return contract_reply(handlers.set_plan(contract_id, body["installments"], viewer,
                                                expected_version))

    @api.operation("/contracts/<contract_id>/payments", "POST", summary="Record money "
                   "received (已收) on an active or completed contract; not more than the "
                   "receivable", body=schemas.PaymentSchema,
                   response=schemas.ContractOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def receive_payment(contract_id):
        viewer = current_identity()
        body = parse_body(schemas.PaymentSchema)
        return contract_reply(handlers.receive_payment(contract_id, body, viewer), 201)

    @api.operation("/contracts/<contract_id>/costs", "POST", summary="Record a cost "
                   "(成本费用)", body=schemas.CostSchema,
                   response=schemas.ContractOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def record_cost(contract_id):
        viewer = current_identity()
        body = parse_body(schemas.CostSchema)
        return contract_reply(handlers.record_cost(contract_id, body, viewer), 201)

    # ------------------------------------------------------------------ reports

    @api.operation("/receivables", "GET", summary="Receivables (应收) per active or "
                   "completed contract the caller may see, with overdue amounts aged into "
                   "0-30 | 31-60 | 61-90 | 90+ days", query=schemas.ReceivablesQuery,
                   response=schemas.ReceivablesOutSchema)
    def receivables():
        query = parse_query(schemas.ReceivablesQuery)
        return json_response(RECEIVABLES_OUT.dump(handlers.receivables(current_identity(),
                                                                       query)))

    @api.operation("/receivables/collections", "GET", summary="Money collected (回款) per "
                   "month on contracts the caller may see", query=schemas.CollectionsQuery,
                   response=schemas.CollectionsOutSchema)
    def collections():
        query = parse_query(schemas.CollectionsQuery)
        return json_response(COLLECTIONS_OUT.dump(handlers.collections(current_identity(),
                                                                       query)))

    @api.operation("/receivables/amount-vs-collected", "GET", summary="Contract amount vs "
                   "collected per owner, team or region (active and completed contracts "
                   "the caller may see)", query=schemas.AmountVsCollectedQuery,
                   response=schemas.AmountVsCollectedOutSchema)
    def amount_vs_collected():
        query = parse_query(schemas.AmountVsCollectedQuery)
        return json_response(AMOUNT_VS_COLLECTED_OUT.dump(
            handlers.amount_vs_collected(current_identity(), query)))

    return api
