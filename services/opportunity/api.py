"""HTTP entry points of the opportunity service (CONTRACT §5): parse, call a handler,
dump through the `Out` schemas."""
from __future__ import annotations

from crmkit.idempotency import idempotent
from crmkit.web import (ApiBlueprint, change_request, current_identity, if_match_version,
                        json_response, parse_body, parse_query, require_role)

from services.opportunity import schemas
from services.opportunity.opportunity import Opportunity
from services.opportunity.pipeline import Pipeline

OPPORTUNITY_OUT = schemas.OpportunityOutSchema()
PAGE_OUT = schemas.OpportunityPageOutSchema()
HISTORY_OUT = schemas.HistoryEntryOutSchema(many=True)
PLAN_OUT = schemas.FollowupPlanOutSchema()
REMINDER_OUT = schemas.ReminderOutSchema()
PIPELINE_OUT = schemas.PipelineOutSchema()


def _opportunity(opp: Opportunity, status: int = 200):
    return json_response(OPPORTUNITY_OUT.dump(opp), status, version=opp.version)


def _pipeline(pipeline: Pipeline):
    return json_response(PIPELINE_OUT.dump(pipeline), version=pipeline.version)


def _listed(schema, items: list):
    return json_response({"items": schema.dump(items, many=True), "total": len(items)})


# --------------------------------------------------------------------------- routes

def blueprint(handlers=None, idempotency=None) -> ApiBlueprint:
    api = ApiBlueprint("opportunity", __name__, tag="opportunities", url_prefix="/api/v1")
    if handlers is None:  # composition without adapters (topology discovery)
        return api

    @api.operation("/pipeline", "GET", summary="The stage pipeline (stages, closing "
                   "outcomes won/lost)", response=schemas.PipelineOutSchema)
    def get_pipeline():
        current_identity()
        return _pipeline(handlers.pipeline())

    @api.operation("/pipeline", "PUT", summary="Edit the stages (admin); a stage holding "
                   "open opportunities cannot be removed (409 stage_in_use)",
                   body=schemas.PipelineInSchema, response=schemas.PipelineOutSchema)
    def put_pipeline():
        admin = require_role("admin")
        expected_version = if_match_version()
        body = parse_body(schemas.PipelineInSchema)
        return _pipeline(handlers.put_pipeline(body["stages"], admin, expected_version))

    @api.operation("/opportunities", "POST", summary="Open an opportunity on a visible "
                   "customer (422 unknown_customer otherwise); starts at the first stage",
                   body=schemas.OpportunityCreateSchema,
                   response=schemas.OpportunityOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def create_opportunity():
        command = parse_body(schemas.OpportunityCreateSchema)
        return _opportunity(handlers.create(command, current_identity()), 201)

    @api.operation("/opportunities", "GET", summary="Opportunities the caller may see, "
                   "with the exact sums of `amount` over every match (all pages)",
                   query=schemas.OpportunityListQuery,
                   response=schemas.OpportunityPageOutSchema)
    def list_opportunities():
        query = parse_query(schemas.OpportunityListQuery)
        return json_response(PAGE_OUT.dump(handlers.list(current_identity(), query)))

    @api.operation("/opportunities/<opportunity_id>", "GET", summary="Read an opportunity",
                   response=schemas.OpportunityOutSchema)
    def get_opportunity(opportunity_id):
        return _opportunity(handlers.get(opportunity_id, current_identity()))

    @api.operation("/opportunities/<opportunity_id>", "PATCH", summary="Edit an open "
                   "opportunity (owner, superiors, admins); If-Match: version",
                   body=schemas.OpportunityPatchSchema, response=schemas.OpportunityOutSchema)
    def patch_opportunity(opportunity_id):
        viewer, expected_version, changes = change_request(schemas.OpportunityPatchSchema)
        return _opportunity(handlers.update(opportunity_id, changes, viewer,
                                            expected_version))

    @api.operation("/opportunities/<opportunity_id>/stage", "POST", summary="Move to a "
                   "stage with a note (won/lost are not stages: use /win, /lose)",
                   body=schemas.StageChangeSchema, response=schemas.OpportunityOutSchema)
    def change_stage(opportunity_id):
        viewer, expected_version, body = change_request(schemas.StageChangeSchema)
        return _opportunity(handlers.change_stage(opportunity_id, body["stage"],
                                                  body["note"], viewer, expected_version))

    @api.operation("/opportunities/<opportunity_id>/history", "GET", summary="Stage "
                   "changes, closing and owner moves, oldest first",
                   response=schemas.HistoryEntryOutSchema, many=True)
    def history(opportunity_id):
        return json_response(HISTORY_OUT.dump(handlers.history(opportunity_id,
                                                               current_identity())))

    @api.operation("/opportunities/<opportunity_id>/win", "POST", summary="Close as won",
                   body=schemas.WinSchema, response=schemas.OpportunityOutSchema)
    def win(opportunity_id):
        viewer, expected_version, body = change_request(schemas.WinSchema)
        return _opportunity(handlers.win(opportunity_id, body, viewer, expected_version))

    @api.operation("/opportunities/<opportunity_id>/lose", "POST", summary="Close as lost",
                   body=schemas.LoseSchema, response=schemas.OpportunityOutSchema)
    def lose(opportunity_id):
        viewer, expected_version, body = change_request(schemas.LoseSchema)
        return _opportunity(handlers.lose(opportunity_id, body["reason"], viewer,
                                          expected_version))

    @api.operation("/opportunities/<opportunity_id>/followup-plans", "POST",
                   summary="Plan a follow-up (lands in the owner's calendar with a "
                   "reminder one day before)", body=schemas.FollowupPlanSchema,
                   response=schemas.FollowupPlanOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def plan_followup(opportunity_id):
        viewer = current_identity()
        body = parse_body(schemas.FollowupPlanSchema)
        return json_response(PLAN_OUT.dump(handlers.plan_followup(opportunity_id, body,
                                                                  viewer)), 201)

    @api.operation("/opportunities/<opportunity_id>/followup-plans", "GET",
                   summary="Follow-up plans of an opportunity",
                   response=schemas.FollowupPlanOutSchema, listed=True)
    def list_followup_plans(opportunity_id):
        return _listed(PLAN_OUT, handlers.followup_plans(opportunity_id, current_identity()))

    @api.operation("/opportunities/<opportunity_id>/reminders", "POST",
                   summary="Be reminded about the opportunity at remind_at",
                   body=schemas.ReminderSchema, response=schemas.ReminderOutSchema,
                   status=201)
    @idempotent(lambda: idempotency)
    def set_reminder(opportunity_id):
        viewer = current_identity()
        body = parse_body(schemas.ReminderSchema)
        return json_response(REMINDER_OUT.dump(handlers.set_reminder(opportunity_id, body,
                                                                     viewer)), 201)

    @api.operation("/opportunities/<opportunity_id>/reminders", "GET",
                   summary="Reminders set on an opportunity",
                   response=schemas.ReminderOutSchema, listed=True)
    def list_reminders(opportunity_id):
        return _listed(REMINDER_OUT, handlers.reminders(opportunity_id, current_identity()))

    return api
