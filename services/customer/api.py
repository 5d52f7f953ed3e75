"""HTTP entry points of the customer service: parse, call a handler, dump through the
`Out` schemas (so what OpenAPI documents is what is sent)."""
from __future__ import annotations

from flask import Response, request, stream_with_context

from crmkit.background import prefers_async
from crmkit.errors import Invalid
from crmkit.identity import clean_team
from crmkit.idempotency import idempotent
from crmkit.pagination import page_body
from crmkit.web import (ApiBlueprint, change_request, current_identity, json_response,
                        load, no_content, parse_body, parse_query, require_role)

from services.customer import schemas as S
from services.customer import printing, transfer
from services.customer.access import FULL, view
from services.customer.domain import Customer

FULL_OUT, PUBLIC_OUT = S.CustomerOutSchema(), S.CustomerPublicOut()
CONTACT_OUT, INTERACTION_OUT = S.ContactOut(), S.InteractionOut()
IMPORT_RUN_OUT = S.ImportRunOut()


def dump_customer(customer: Customer, seen: str) -> dict:
    """The full record, or the public view (公开信息) for everyone else."""
    return (FULL_OUT if seen == FULL else PUBLIC_OUT).dump(customer)


def dump_for(customer: Customer, viewer) -> dict:
    """What the caller may see of it now (public if no longer theirs after an action)."""
    return dump_customer(customer, view(customer, viewer))


def customer_response(customer: Customer, body: dict, status: int = 200, **headers):
    return json_response(body, status, version=customer.version, headers=headers or None)


def blueprint(handlers, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("customers", __name__, tag="customers", url_prefix="/api/v1")
    api.handlers = handlers  # reachable from tests: app.blueprints["customers"].handlers

    # ---- create, list, read, edit

    @api.operation("/customers", "POST", summary="Create a customer (新建客户)",
                   body=S.CustomerCreateSchema, response=S.CustomerOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def create_customer():
        viewer = current_identity()
        customer = handlers.create_customer(parse_body(S.CustomerCreateSchema), viewer)
        return customer_response(customer, dump_for(customer, viewer), 201,
                                 Location=f"/api/v1/customers/{customer.id}")

    @api.operation("/customers", "GET", summary="Customers the caller sees (我的/共享/团队)",
                   query=S.CustomerListQuery, response=S.CustomerOutSchema,
                   paginated=True)
    def list_customers():
        viewer = current_identity()
        query = parse_query(S.CustomerListQuery, many=("tag",))
        page = handlers.list_customers(query, viewer)
        items = [dump_for(customer, viewer) for customer in page.items]
        return json_response(page_body(items, page.total, query["page"], query["per_page"]))

    @api.operation("/customers/duplicates", "GET", summary="Likely duplicates of a name (同名检查)",
                   query=S.DuplicatesQuery, response=S.DuplicateOut, paginated=True)
    def duplicates():
        current_identity()
        query = parse_query(S.DuplicatesQuery)
        items = S.DuplicateOut(many=True).dump(handlers.duplicates(query["name"]))
        return json_response(page_body(items, len(items), 1, max(len(items), 1)))

    @api.operation("/customers/reclaim-due", "GET", summary="My customers close to "
                   "auto-reclaim (即将被回收的客户)", query=S.ReclaimOutlookQuery,
                   response=S.ReclaimOutlookOut)
    def reclaim_due():
        viewer = current_identity()
        query = parse_query(S.ReclaimOutlookQuery)
        outlook = handlers.reclaim_outlook(viewer, query["within_days"])
        return json_response(S.ReclaimOutlookOut().dump(outlook))

    @api.operation("/customers/export", "GET", summary="Export visible customers (xlsx/csv)",
                   query=S.ExportQuery)
    def export_customers():
        viewer = current_identity()
        query = parse_query(S.ExportQuery, many=("tag",))
        customers = handlers.export_rows(query, viewer)
        lang = transfer.language(request.accept_languages)
        headers = transfer.export_headers(lang)
        rows = transfer.export_lines(customers, lang, handlers.tz)
        stamp = handlers.today().strftime("%Y%m%d")
        # streamed: rows leave as the database cursor yields them (memory stays flat)
        if query["format"] == "csv":
            body, mimetype = transfer.stream_csv(headers, rows), "text/csv; charset=utf-8"
        else:
            body = transfer.stream_xlsx(headers, rows)
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(stream_with_context(body), 200, content_type=mimetype, headers={
            "Content-Disposition":
                f'attachment; filename="customers-{stamp}.{query["format"]}"'})

    @api.operation("/customers/print", "GET", summary="Print the customer list as the "
                   "caller's list shows it (打印; current page, or all=true: up to 500)",
                   query=S.CustomerPrintQuery)
    def print_customers():
        viewer = current_identity()
        query = parse_query(S.CustomerPrintQuery, many=("tag",))
        form, everything = query.pop("format"), query.pop("all")
        if everything:
            query.update(page=1, per_page=printing.LIST_MAX)
        customers, total = handlers.list_customers(query, viewer)
        items = [dump_for(customer, viewer) for customer in customers]
        options = {"truncated": everything and total > len(items),
                   "lang": transfer.language(request.accept_languages), "tz": handlers.tz,
                   "now": handlers.now()}
        if form == "pdf":
            return _printed(printing.list_pdf(items, total, **options), "customers.pdf")
        return _printed(printing.list_html(items, total, **options))

    @api.operation("/customers/<customer_id>/print", "GET", summary="Print one customer: "
                   "record, contacts, follow-ups (a pool customer: its public view)",
                   query=S.PrintQuery)
    def print_customer(customer_id):
        viewer = current_identity()
        query = parse_query(S.PrintQuery)
        customer, seen = handlers.get_customer(customer_id, viewer)
        contacts = followups = None
        if seen == FULL:
            contacts = CONTACT_OUT.dump(handlers.contacts(customer_id, viewer), many=True)
            followups = INTERACTION_OUT.dump(handlers.interactions(
                customer_id, viewer, page=1, per_page=printing.FOLLOWUPS_MAX)[0], many=True)
        args = (dump_customer(customer, seen), contacts, followups)
        options = {"lang": transfer.language(request.accept_languages), "tz": handlers.tz,
                   "now": handlers.now()}
        if query["format"] == "pdf":
            return _printed(printing.customer_pdf(*args, **options), f"{customer.id}.pdf")
        return _printed(printing.customer_html(*args, **options))

    @api.operation("/customers/import", "POST", summary="Import customers from xlsx or csv "
                   "(with `Prefer: respond-async`: 202 and the run's status, followed at "
                   "its Location)", response=S.ImportResultOut)
    @idempotent(lambda: idempotency)
    def import_customers():
        viewer = current_identity()
        upload = request.files.get("file")
        if upload is None:
            raise Invalid("file", "Send the spreadsheet as multipart field 'file'. "
                                  "/ 请以 multipart 字段 file 上传文件。")
        form = load(S.ImportForm, {k: v for k, v in request.form.items() if k == "in_pool"})
        if prefers_async(request.headers.get("Prefer")):
            run = handlers.start_import(upload.read(), upload.filename, viewer,
                                        in_pool=form["in_pool"])
            return json_response(IMPORT_RUN_OUT.dump(run), 202, headers={
                "Location": f"/api/v1/customers/imports/{run['id']}",
                "Preference-Applied": "respond-async"})
        result = handlers.import_customers(upload.read(), upload.filename, viewer,
                                           in_pool=form["in_pool"])
        return json_response(S.ImportResultOut().dump(result), 200)

    @api.operation("/customers/imports", "GET", summary="The caller's latest background "
                   "imports, newest first (an admin's: everyone's)",
                   response=S.ImportRunOut, listed=True)
    def list_import_runs():
        runs = handlers.import_runs(current_identity())
        return json_response({"items": IMPORT_RUN_OUT.dump(runs, many=True),
                              "total": len(runs)})

    @api.operation("/customers/imports/<run_id>", "GET", summary="A background import's "
                   "status and, once done, its report", response=S.ImportRunOut)
    def get_import_run(run_id):
        return json_response(IMPORT_RUN_OUT.dump(handlers.import_run(run_id,
                                                                     current_identity())))

    @api.operation("/customers/bulk", "POST", summary="One pool action over many customers",
                   body=S.BulkSchema, response=S.BulkResultOut)
    def bulk():
        viewer = current_identity()
        body = parse_body(S.BulkSchema)
        results = handlers.bulk(body["action"], body["ids"], viewer,
                                user_ids=body.get("user_ids"), reason=body.get("reason"),
                                teams=body.get("teams"))
        return json_response(S.BulkResultOut().dump({"results": results}))

    @api.operation("/customers/<customer_id>", "GET", summary="A customer (full or public view)",
                   response=S.CustomerOutSchema)
    def get_customer(customer_id):
        customer, seen = handlers.get_customer(customer_id, current_identity())
        return customer_response(customer, dump_customer(customer, seen))

    @api.operation("/customers/<customer_id>", "PATCH", summary="Edit a customer",
                   body=S.CustomerPatchSchema, response=S.CustomerOutSchema)
    def patch_customer(customer_id):
        viewer, expected_version, data = change_request(S.CustomerPatchSchema, partial=True)
        customer = handlers.update_customer(customer_id, data, viewer,
                                            expected_version=expected_version)
        return customer_response(customer, dump_for(customer, viewer))

    @api.operation("/customers/<customer_id>", "DELETE",
                   summary="Delete an unclaimed customer (supervisor+)",
                   response=S.DeletedCustomerOut)
    def delete_customer(customer_id):
        customer = handlers.delete(customer_id, current_identity())
        return json_response(S.DeletedCustomerOut().dump(customer))

    @api.operation("/customers/<customer_id>/history", "GET",
                   summary="Change log, pool actions included", response=S.HistoryEntryOut,
                   many=True)
    def history(customer_id):
        entries = handlers.history(customer_id, current_identity())
        return json_response(S.HistoryEntryOut(many=True).dump(entries))

    # ---- pool actions

    @api.operation("/customers/<customer_id>/claim", "POST", summary="Claim (领用)",
                   response=S.CustomerOutSchema)
    def claim(customer_id):
        viewer = current_identity()
        return _action_response(handlers.claim(customer_id, viewer), viewer)

    @api.operation("/customers/<customer_id>/return", "POST", summary="Return to the pool (归还)",
                   body=S.ReturnSchema, response=S.CustomerOutSchema)
    def return_customer(customer_id):
        viewer = current_identity()
        body = parse_body(S.ReturnSchema)
        return _action_response(handlers.return_customer(customer_id, viewer,
                                                         body.get("reason")), viewer)

    @api.operation("/customers/<customer_id>/recover", "POST",
                   summary="Take back into the pool (收回, supervisor+)",
                   body=S.ReturnSchema, response=S.CustomerOutSchema)
    def recover(customer_id):
        viewer = current_identity()
        body = parse_body(S.ReturnSchema)
        return _action_response(handlers.recover(customer_id, viewer, body.get("reason")),
                                viewer)

    @api.operation("/customers/<customer_id>/assign", "POST", summary="Assign (指派)",
                   body=S.AssignSchema, response=S.CustomerOutSchema)
    def assign(customer_id):
        viewer = current_identity()
        body = parse_body(S.AssignSchema)
        return _action_response(handlers.assign(customer_id, viewer, body["user_id"]), viewer)

    @api.operation("/customers/<customer_id>/shares", "POST", summary="Share (共享)",
                   body=S.SharesSchema, response=S.CustomerOutSchema)
    def share(customer_id):
        viewer = current_identity()
        body = parse_body(S.SharesSchema)
        return _action_response(handlers.share(customer_id, viewer, body["user_ids"],
                                               body["teams"]), viewer)

    @api.operation("/customers/<customer_id>/shares/teams/<path:team>", "DELETE",
                   summary="Stop sharing with a team", response=S.CustomerOutSchema)
    def unshare_team(customer_id, team):
        viewer = current_identity()
        try:
            team = clean_team(team)
        except ValueError:
            pass   # not a team path: shared with no such team (404 not_shared)
        return _action_response(handlers.unshare_team(customer_id, viewer, team), viewer)

    @api.operation("/customers/<customer_id>/shares/<user_id>", "DELETE",
                   summary="Stop sharing with a user", response=S.CustomerOutSchema)
    def unshare(customer_id, user_id):
        viewer = current_identity()
        return _action_response(handlers.unshare(customer_id, viewer, user_id), viewer)

    # ---- contacts

    @api.operation("/customers/<customer_id>/contacts", "GET", summary="Contacts",
                   response=S.ContactOut, paginated=True)
    def list_contacts(customer_id):
        contacts = handlers.contacts(customer_id, current_identity())
        items = CONTACT_OUT.dump(contacts, many=True)
        return json_response(page_body(items, len(items), 1, max(len(items), 1)))

    @api.operation("/customers/<customer_id>/contacts", "POST", summary="Add a contact",
                   body=S.ContactSchema, response=S.ContactOut, status=201)
    @idempotent(lambda: idempotency)
    def add_contact(customer_id):
        viewer = current_identity()
        data = parse_body(S.ContactSchema)
        contact = handlers.add_contact(customer_id, data, viewer)
        return json_response(CONTACT_OUT.dump(contact), 201)

    @api.operation("/customers/<customer_id>/contacts/<contact_id>", "GET", summary="A contact",
                   response=S.ContactOut)
    def get_contact(customer_id, contact_id):
        contact = handlers.contact(customer_id, contact_id, current_identity())
        return json_response(CONTACT_OUT.dump(contact))

    @api.operation("/customers/<customer_id>/contacts/<contact_id>", "PATCH",
                   summary="Edit a contact", body=S.ContactSchema, response=S.ContactOut)
    def patch_contact(customer_id, contact_id):
        viewer = current_identity()
        data = parse_body(S.ContactSchema, partial=True)
        contact = handlers.update_contact(customer_id, contact_id, data, viewer)
        return json_response(CONTACT_OUT.dump(contact))

    @api.operation("/customers/<customer_id>/contacts/<contact_id>", "DELETE",
                   summary="Remove a contact", status=204)
    def delete_contact(customer_id, contact_id):
        handlers.remove_contact(customer_id, contact_id, current_identity())
        return no_content()

    # ---- follow-ups

    @api.operation("/customers/<customer_id>/interactions", "POST",
                   summary="Log a follow-up (跟进记录)", body=S.InteractionSchema,
                   response=S.InteractionOut, status=201)
    @idempotent(lambda: idempotency)
    def log_interaction(customer_id):
        viewer = current_identity()
        data = parse_body(S.InteractionSchema)
        interaction = handlers.log_interaction(customer_id, data, viewer)
        return json_response(INTERACTION_OUT.dump(interaction), 201)

    @api.operation("/customers/<customer_id>/interactions/<interaction_id>", "PATCH",
                   summary="Correct one's own follow-up record (its author only)",
                   body=S.InteractionPatchSchema, response=S.InteractionOut)
    def patch_interaction(customer_id, interaction_id):
        viewer = current_identity()
        data = parse_body(S.InteractionPatchSchema, partial=True)
        interaction = handlers.edit_interaction(customer_id, interaction_id, data, viewer)
        return json_response(INTERACTION_OUT.dump(interaction))

    @api.operation("/customers/<customer_id>/interactions/<interaction_id>", "DELETE",
                   summary="Delete one's own follow-up record (its author only)", status=204)
    def delete_interaction(customer_id, interaction_id):
        handlers.delete_interaction(customer_id, interaction_id, current_identity())
        return no_content()

    @api.operation("/customers/<customer_id>/interactions", "GET",
                   summary="Follow-ups, newest first", query=S.PageQueryOnly,
                   response=S.InteractionOut, paginated=True)
    def list_interactions(customer_id):
        query = parse_query(S.PageQueryOnly)
        items, total = handlers.interactions(customer_id, current_identity(),
                                             page=query["page"], per_page=query["per_page"])
        return json_response(page_body(INTERACTION_OUT.dump(items, many=True), total,
                                       query["page"], query["per_page"]))

    # ---- the pool

    @api.operation("/pool", "GET", summary="Every customer's public view (客户池)",
                   query=S.PoolQuery, response=S.CustomerPublicOut, paginated=True)
    def pool():
        viewer = current_identity()
        query = parse_query(S.PoolQuery, many=("tag",))
        page = handlers.pool(query, viewer)
        items = PUBLIC_OUT.dump(page.items, many=True)
        return json_response(page_body(items, page.total, query["page"], query["per_page"]))

    @api.operation("/pool/rules", "GET", summary="Auto-reclaim and claim rules",
                   response=S.PoolRulesSchema)
    def get_rules():
        current_identity()
        return json_response(S.PoolRulesSchema().dump(handlers.rules()))

    @api.operation("/pool/rules", "PUT", summary="Set the pool rules (admin)",
                   body=S.PoolRulesSchema, response=S.PoolRulesSchema)
    def put_rules():
        admin = require_role("admin")
        body = parse_body(S.PoolRulesSchema)
        return json_response(S.PoolRulesSchema().dump(handlers.put_rules(body, admin)))

    @api.operation("/pool/reclaim", "POST", summary="Run auto-reclaim now as of a date (admin)",
                   query=S.ReclaimQuery, response=S.ReclaimReportOut)
    def run_reclaim():
        require_role("admin")
        query = parse_query(S.ReclaimQuery)
        return json_response(S.ReclaimReportOut().dump(handlers.run_reclaim(query.get("as_of"))))

    return api


def _action_response(customer: Customer, viewer):
    return customer_response(customer, dump_for(customer, viewer))


def _printed(body, pdf_name: str | None = None) -> Response:
    """A print: a PDF shown inline (named for saving), or the HTML page."""
    if pdf_name is None:
        return Response(body, 200, content_type="text/html; charset=utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})
    return Response(body, 200, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{pdf_name}"',
        "X-Content-Type-Options": "nosniff"})
