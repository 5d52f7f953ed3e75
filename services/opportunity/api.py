"""HTTP entry points of the opportunity service (CONTRACT §5): parse, call, dump."""
from __future__ import annotations

from crmkit.clock import isoformat
from crmkit.idempotency import idempotent
from crmkit.money import format_money
from crmkit.pagination import page_body, sort_spec
from crmkit.web import (ApiBlueprint, current_identity, if_match_version, json_response,
                        parse_body, parse_query, require_role)

from services.opportunity import schemas
from services.opportunity.domain import Opportunity, Pipeline
from services.opportunity.repository import SORTABLE

DEFAULT_SORT = "-created_at"


# --------------------------------------------------------------------------- views

def present(opp: Opportunity) -> dict:
    return {
        "id": opp.id, "name": opp.name, "customer_id": opp.customer_id,
        "customer_name": opp.customer_name, "contact_id": opp.contact_id,
        "product": opp.product, "amount": format_money(opp.amount),
        "currency": opp.currency,
        "expected_close_date": opp.expected_close_date.isoformat(),
        "stage": opp.stage, "probability": opp.probability,
        "probability_source": "manual" if opp.probability_manual else "stage",
        "status": opp.status, "competitors": list(opp.competitors),
        "strengths": opp.strengths, "weaknesses": opp.weaknesses,
        "key_factors": opp.key_factors, "risks": opp.risks,
        "next_action": opp.next_action,
        "next_action_due": opp.next_action_due.isoformat() if opp.next_action_due else None,
        "description": opp.description, "owner_id": opp.owner_id, "region": opp.region,
        "won": None if opp.won is None else {
            "amount": format_money(opp.won["amount"]),
            "contract_number": opp.won["contract_number"],
            "signed_on": opp.won["signed_on"].isoformat()},
        "lost": None if opp.lost is None else {"reason": opp.lost["reason"]},
        "stage_changed_at": isoformat(opp.stage_changed_at),
        "closed_at": isoformat(opp.closed_at), "created_by": opp.created_by,
        "created_at": isoformat(opp.created_at), "updated_at": isoformat(opp.updated_at),
        "version": opp.version,
    }


def present_history(entry: dict) -> dict:
    out = {"at": isoformat(entry["at"]), "actor_id": entry.get("actor_id"),
           "action": entry.get("action"), "from": entry.get("from"), "to": entry.get("to"),
           "note": entry.get("note")}
    if entry.get("action") == "assigned":
        out["from_owner_id"] = entry.get("from_owner_id")
        out["to_owner_id"] = entry.get("to_owner_id")
    return out


def present_plan(opp: Opportunity, plan: dict) -> dict:
    return {"id": plan["id"], "opportunity_id": opp.id,
            "start_at": isoformat(plan["start_at"]), "end_at": isoformat(plan["end_at"]),
            "method": plan["method"], "content": plan["content"],
            "assignee_id": plan.get("assignee_id"),
            "reminders": [{"remind_at": isoformat(r["remind_at"])}
                          for r in plan.get("reminders") or []],
            "created_by": plan.get("created_by"), "created_at": isoformat(plan["created_at"])}


def present_reminder(opp: Opportunity, reminder: dict) -> dict:
    return {"id": reminder["id"], "opportunity_id": opp.id,
            "remind_at": isoformat(reminder["remind_at"]), "note": reminder.get("note"),
            "user_id": reminder.get("user_id"), "created_by": reminder.get("created_by"),
            "created_at": isoformat(reminder["created_at"])}


def present_pipeline(pipeline: Pipeline) -> dict:
    return pipeline.to_dict()


def _opportunity(opp: Opportunity, status: int = 200):
    return json_response(present(opp), status, version=opp.version)


# --------------------------------------------------------------------------- routes

def blueprint(service=None, idempotency=None) -> ApiBlueprint:
    api = ApiBlueprint("opportunity", __name__, tag="opportunities", url_prefix="/api/v1")
    if service is None:  # composition without adapters (topology discovery)
        return api

    @api.operation("/pipeline", "GET", summary="The stage pipeline (stages, closing "
                   "outcomes won/lost)", response=schemas.PipelineOutSchema)
    def get_pipeline():
        current_identity()
        pipeline = service.pipeline()
        return json_response(present_pipeline(pipeline), version=pipeline.version)

    @api.operation("/pipeline", "PUT", summary="Edit the stages (admin); a stage holding "
                   "open opportunities cannot be removed (409 stage_in_use)",
                   body=schemas.PipelineInSchema, response=schemas.PipelineOutSchema)
    def put_pipeline():
        admin = require_role("admin")
        expected = if_match_version()
        body = parse_body(schemas.PipelineInSchema)
        pipeline = service.put_pipeline(body["stages"], admin, expected)
        return json_response(present_pipeline(pipeline), version=pipeline.version)

    @api.operation("/opportunities", "POST", summary="Open an opportunity on a visible "
                   "customer (422 unknown_customer otherwise); starts at the first stage",
                   body=schemas.OpportunityCreateSchema,
                   response=schemas.OpportunityOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def create_opportunity():
        command = parse_body(schemas.OpportunityCreateSchema)
        return _opportunity(service.create(command, current_identity()), 201)

    @api.operation("/opportunities", "GET", summary="Opportunities the caller may see",
                   query=schemas.OpportunityListQuery, response=schemas.OpportunityOutSchema,
                   paginated=True)
    def list_opportunities():
        query = parse_query(schemas.OpportunityListQuery)
        field, direction = sort_spec(query.get("sort"), SORTABLE, DEFAULT_SORT)[0]
        sort = [(SORTABLE[field], direction), ("_id", direction)]
        items, total, totals = service.list(current_identity(), query, sort)
        body = page_body([present(o) for o in items], total, query["page"],
                         query["per_page"])
        # exact sums of `amount` over every match (all pages), per currency
        body["amount_totals"] = {currency: format_money(amount)
                                 for currency, amount in sorted(totals.items())}
        return json_response(body)

    @api.operation("/opportunities/<opportunity_id>", "GET", summary="Read an opportunity",
                   response=schemas.OpportunityOutSchema)
    def get_opportunity(opportunity_id):
        return _opportunity(service.get(opportunity_id, current_identity()))

    @api.operation("/opportunities/<opportunity_id>", "PATCH", summary="Edit an open "
                   "opportunity (owner, superiors, admins); If-Match: version",
                   body=schemas.OpportunityPatchSchema, response=schemas.OpportunityOutSchema)
    def patch_opportunity(opportunity_id):
        viewer = current_identity()
        expected = if_match_version()
        changes = parse_body(schemas.OpportunityPatchSchema)
        return _opportunity(service.update(opportunity_id, changes, viewer, expected))

    @api.operation("/opportunities/<opportunity_id>/stage", "POST", summary="Move to a "
                   "stage with a note (won/lost are not stages: use /win, /lose)",
                   body=schemas.StageChangeSchema, response=schemas.OpportunityOutSchema)
    def change_stage(opportunity_id):
        viewer = current_identity()
        expected = if_match_version()
        body = parse_body(schemas.StageChangeSchema)
        return _opportunity(service.change_stage(opportunity_id, body["stage"], body["note"],
                                                 viewer, expected))

    @api.operation("/opportunities/<opportunity_id>/history", "GET", summary="Stage "
                   "changes, closing and owner moves, oldest first",
                   response=schemas.HistoryEntryOutSchema, many=True)
    def history(opportunity_id):
        opp = service.get(opportunity_id, current_identity(), history=True)
        return json_response([present_history(h) for h in opp.history])

    @api.operation("/opportunities/<opportunity_id>/win", "POST", summary="Close as won",
                   body=schemas.WinSchema, response=schemas.OpportunityOutSchema)
    def win(opportunity_id):
        viewer = current_identity()
        expected = if_match_version()
        body = parse_body(schemas.WinSchema)
        return _opportunity(service.win(opportunity_id, body, viewer, expected))

    @api.operation("/opportunities/<opportunity_id>/lose", "POST", summary="Close as lost",
                   body=schemas.LoseSchema, response=schemas.OpportunityOutSchema)
    def lose(opportunity_id):
        viewer = current_identity()
        expected = if_match_version()
        body = parse_body(schemas.LoseSchema)
        return _opportunity(service.lose(opportunity_id, body["reason"], viewer, expected))

    @api.operation("/opportunities/<opportunity_id>/followup-plans", "POST",
                   summary="Plan a follow-up (lands in the owner's calendar with a "
                   "reminder one day before)", body=schemas.FollowupPlanSchema,
                   response=schemas.FollowupPlanOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def plan_followup(opportunity_id):
        viewer = current_identity()
        body = parse_body(schemas.FollowupPlanSchema)
        opp, plan = service.plan_followup(opportunity_id, body, viewer)
        return json_response(present_plan(opp, plan), 201)

    @api.operation("/opportunities/<opportunity_id>/followup-plans", "GET",
                   summary="Follow-up plans of an opportunity",
                   response=schemas.FollowupPlanOutSchema, listed=True)
    def list_followup_plans(opportunity_id):
        opp = service.get(opportunity_id, current_identity())
        items = [present_plan(opp, p) for p in opp.followup_plans]
        return json_response({"items": items, "total": len(items)})

    @api.operation("/opportunities/<opportunity_id>/reminders", "POST",
                   summary="Be reminded about the opportunity at remind_at",
                   body=schemas.ReminderSchema, response=schemas.ReminderOutSchema,
                   status=201)
    @idempotent(lambda: idempotency)
    def set_reminder(opportunity_id):
        viewer = current_identity()
        body = parse_body(schemas.ReminderSchema)
        opp, reminder = service.set_reminder(opportunity_id, body, viewer)
        return json_response(present_reminder(opp, reminder), 201)

    @api.operation("/opportunities/<opportunity_id>/reminders", "GET",
                   summary="Reminders set on an opportunity",
                   response=schemas.ReminderOutSchema, listed=True)
    def list_reminders(opportunity_id):
        opp = service.get(opportunity_id, current_identity())
        items = [present_reminder(opp, r) for r in opp.reminders]
        return json_response({"items": items, "total": len(items)})

    return api
