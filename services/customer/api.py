"""HTTP entry points of the customer service: parse, call a handler, present."""
from __future__ import annotations

from flask import Response, request

from crmkit.clock import isoformat
from crmkit.errors import Invalid
from crmkit.idempotency import idempotent
from crmkit.money import format_money
from crmkit.pagination import page_body
from crmkit.web import (ApiBlueprint, current_identity, if_match_version, json_response,
                        load, no_content, parse_body, parse_query, require_role)

from services.customer import schemas as S
from services.customer import transfer
from services.customer.domain import FULL, PUBLIC_FIELDS, Customer, view
from services.customer.repository import customer_from

# --------------------------------------------------------------------------- presenters


def present_contact(contact) -> dict:
    data = contact.as_dict()
    data["birthday"] = contact.birthday.isoformat() if contact.birthday else None
    data["created_at"] = isoformat(contact.created_at)
    data["updated_at"] = isoformat(contact.updated_at)
    return data


def present_customer(customer: Customer, seen: str) -> dict:
    """The full record, or the public view (公开信息) for everyone else."""
    out = {name: getattr(customer, name) for name in PUBLIC_FIELDS}
    out.update(tags=list(customer.tags), claimed=customer.claimed,
               owner_name=customer.owner_name, version=customer.version,
               created_at=isoformat(customer.created_at),
               updated_at=isoformat(customer.updated_at))
    if seen != FULL:
        out["view"] = "public"
        return out
    out.update(
        view="full", source_detail=customer.source_detail, needs=customer.needs,
        shared_with=list(customer.shared_with), primary_contact=customer.primary_contact,
        contacts=[present_contact(c) for c in customer.contacts],
        deal_amount=format_money(customer.deal_amount), currency=customer.currency,
        last_deal_on=customer.last_deal_on.isoformat() if customer.last_deal_on else None,
        last_followup_at=isoformat(customer.last_followup_at),
        created_by=customer.created_by)
    return out


def present_for(customer: Customer, viewer) -> dict:
    """After an action: what the caller may see now (public if no longer theirs)."""
    return present_customer(customer, view(customer, viewer))


def present_interaction(item) -> dict:
    data = item.as_dict() if hasattr(item, "as_dict") else dict(item)
    due = data.get("next_action_due")
    data["next_action_due"] = due.isoformat() if hasattr(due, "isoformat") else due
    data["occurred_at"] = isoformat(data.get("occurred_at"))
    data["created_at"] = isoformat(data.get("created_at"))
    return data


def present_history(entry: dict) -> dict:
    return {**entry, "at": isoformat(entry["at"])}


def customer_response(customer: Customer, seen: str, status: int = 200, **headers):
    return json_response(present_customer(customer, seen), status, version=customer.version,
                         headers=headers or None)


# --------------------------------------------------------------------------- routes


def customer_blueprint(handlers, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("customers", __name__, tag="customers", url_prefix="/api/v1")
    api.handlers = handlers  # reachable from tests: app.blueprints["customers"].handlers

    # ---- create, list, read, edit

    @api.operation("/customers", "POST", summary="Create a customer (新建客户)",
                   body=S.CustomerCreateSchema, response=S.CustomerOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def create_customer():
        viewer = current_identity()
        customer = handlers.create_customer(parse_body(S.CustomerCreateSchema), viewer)
        return customer_response(customer, view(customer, viewer), 201,
                                 Location=f"/api/v1/customers/{customer.id}")

    @api.operation("/customers", "GET", summary="Customers the caller sees (我的/共享/团队)",
                   query=S.CustomerListQuery, response=S.CustomerOutSchema, paginated=True)
    def list_customers():
        viewer = current_identity()
        query = parse_query(S.CustomerListQuery, many=("tag",))
        docs, total = handlers.list_customers(query, viewer)
        items = [present_for(customer_from(d), viewer) for d in docs]
        return json_response(page_body(items, total, query["page"], query["per_page"]))

    @api.operation("/customers/duplicates", "GET", summary="Likely duplicates of a name (同名检查)",
                   query=S.DuplicatesQuery)
    def duplicates():
        current_identity()
        query = parse_query(S.DuplicatesQuery)
        items = handlers.duplicates(query["name"])
        return json_response({"items": items, "total": len(items), "page": 1,
                              "per_page": max(len(items), 1)})

    @api.operation("/customers/reclaim-due", "GET", summary="My customers close to "
                   "auto-reclaim (即将被回收的客户)", query=S.ReclaimOutlookQuery,
                   response=S.ReclaimOutlookOut)
    def reclaim_due():
        viewer = current_identity()
        query = parse_query(S.ReclaimOutlookQuery)
        return json_response(handlers.reclaim_outlook(viewer, query["within_days"]))

    @api.operation("/customers/export", "GET", summary="Export visible customers (xlsx/csv)",
                   query=S.ExportQuery)
    def export_customers():
        viewer = current_identity()
        query = parse_query(S.ExportQuery, many=("tag",))
        docs = handlers.export_rows(query, viewer)
        lang = transfer.language(request.accept_languages)
        headers, rows = transfer.export_table(docs, lang, handlers.tz)
        stamp = handlers.today().strftime("%Y%m%d")
        if query["format"] == "csv":
            body, mimetype = transfer.to_csv(headers, rows), "text/csv; charset=utf-8"
        else:
            body = transfer.to_xlsx(headers, rows)
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(body, 200, content_type=mimetype, headers={
            "Content-Disposition":
                f'attachment; filename="customers-{stamp}.{query["format"]}"'})

    @api.operation("/customers/import", "POST", summary="Import customers from xlsx or csv",
                   response=S.ImportResultOut)
    @idempotent(lambda: idempotency)
    def import_customers():
        viewer = current_identity()
        upload = request.files.get("file")
        if upload is None:
            raise Invalid("file", "Send the spreadsheet as multipart field 'file'. "
                                  "/ 请以 multipart 字段 file 上传文件。")
        form = load(S.ImportForm, {k: v for k, v in request.form.items() if k == "in_pool"})
        result = handlers.import_customers(upload.read(), upload.filename, viewer,
                                           in_pool=form["in_pool"])
        return json_response(result, 200)

    @api.operation("/customers/bulk", "POST", summary="One pool action over many customers",
                   body=S.BulkSchema, response=S.BulkResultOut)
    def bulk():
        viewer = current_identity()
        body = parse_body(S.BulkSchema)
        results = handlers.bulk(body["action"], body["ids"], viewer,
                                user_ids=body.get("user_ids"), reason=body.get("reason"))
        return json_response({"results": results})

    @api.operation("/customers/<customer_id>", "GET", summary="A customer (full or public view)",
                   response=S.CustomerOutSchema)
    def get_customer(customer_id):
        customer, seen = handlers.get_customer(customer_id, current_identity())
        return customer_response(customer, seen)

    @api.operation("/customers/<customer_id>", "PATCH", summary="Edit a customer",
                   body=S.CustomerPatchSchema, response=S.CustomerOutSchema)
    def patch_customer(customer_id):
        viewer = current_identity()
        expected = if_match_version()
        data = parse_body(S.CustomerPatchSchema, partial=True)
        customer = handlers.update_customer(customer_id, data, viewer,
                                            expected_version=expected)
        return customer_response(customer, view(customer, viewer))

    @api.operation("/customers/<customer_id>", "DELETE",
                   summary="Delete an unclaimed customer (supervisor+)",
                   response=S.CustomerPublicOut)
    def delete_customer(customer_id):
        customer = handlers.delete(customer_id, current_identity())
        body = present_customer(customer, "public")
        body["deleted"] = True
        return json_response(body)

    @api.operation("/customers/<customer_id>/history", "GET",
                   summary="Change log, pool actions included", response=S.HistoryEntryOut,
                   many=True)
    def history(customer_id):
        entries = handlers.history(customer_id, current_identity())
        return json_response([present_history(e) for e in entries])

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
        return _action_response(handlers.share(customer_id, viewer, body["user_ids"]), viewer)

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
        items = [present_contact(c) for c in contacts]
        return json_response(page_body(items, len(items), 1, max(len(items), 1)))

    @api.operation("/customers/<customer_id>/contacts", "POST", summary="Add a contact",
                   body=S.ContactSchema, response=S.ContactOut, status=201)
    @idempotent(lambda: idempotency)
    def add_contact(customer_id):
        viewer = current_identity()
        data = parse_body(S.ContactSchema)
        contact = handlers.add_contact(customer_id, data, viewer)
        return json_response(present_contact(contact), 201)

    @api.operation("/customers/<customer_id>/contacts/<contact_id>", "GET", summary="A contact",
                   response=S.ContactOut)
    def get_contact(customer_id, contact_id):
        contact = handlers.contact(customer_id, contact_id, current_identity())
        return json_response(present_contact(contact))

    @api.operation("/customers/<customer_id>/contacts/<contact_id>", "PATCH",
                   summary="Edit a contact", body=S.ContactSchema, response=S.ContactOut)
    def patch_contact(customer_id, contact_id):
        viewer = current_identity()
        data = parse_body(S.ContactSchema, partial=True)
        contact = handlers.update_contact(customer_id, contact_id, data, viewer)
        return json_response(present_contact(contact))

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
        return json_response(present_interaction(interaction), 201)

    @api.operation("/customers/<customer_id>/interactions", "GET",
                   summary="Follow-ups, newest first", query=S.PageQueryOnly,
                   response=S.InteractionOut, paginated=True)
    def list_interactions(customer_id):
        query = parse_query(S.PageQueryOnly)
        items = handlers.interactions(customer_id, current_identity())
        start = (query["page"] - 1) * query["per_page"]
        page = [present_interaction(i) for i in items[start:start + query["per_page"]]]
        return json_response(page_body(page, len(items), query["page"], query["per_page"]))

    # ---- the pool

    @api.operation("/pool", "GET", summary="Every customer's public view (客户池)",
                   query=S.PoolQuery, response=S.CustomerPublicOut, paginated=True)
    def pool():
        viewer = current_identity()
        query = parse_query(S.PoolQuery, many=("tag",))
        docs, total = handlers.pool(query, viewer)
        items = [present_customer(customer_from(d), "public") for d in docs]
        return json_response(page_body(items, total, query["page"], query["per_page"]))

    @api.operation("/pool/rules", "GET", summary="Auto-reclaim and claim rules",
                   response=S.PoolRulesSchema)
    def get_rules():
        current_identity()
        return json_response(handlers.rules())

    @api.operation("/pool/rules", "PUT", summary="Set the pool rules (admin)",
                   body=S.PoolRulesSchema, response=S.PoolRulesSchema)
    def put_rules():
        admin = require_role("admin")
        body = parse_body(S.PoolRulesSchema)
        return json_response(handlers.put_rules(body, admin))

    @api.operation("/pool/reclaim", "POST", summary="Run auto-reclaim now as of a date (admin)",
                   query=S.ReclaimQuery)
    def run_reclaim():
        require_role("admin")
        query = parse_query(S.ReclaimQuery)
        return json_response(handlers.run_reclaim(query.get("as_of")))

    return api


def _action_response(customer: Customer, viewer):
    return json_response(present_for(customer, viewer), version=customer.version)

