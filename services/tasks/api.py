"""HTTP entry points of the tasks service (CONTRACT §6): parse, call a handler, dump."""
from __future__ import annotations

import os

from flask import Response, request

from crmkit.idempotency import idempotent
from crmkit.pagination import page_body
from crmkit.web import (ApiBlueprint, current_identity, if_match_version, json_response,
                        no_content, parse_body, parse_query)

from services.tasks.schemas import (AssignIn, BulkAssignIn, BulkAssignOut, BulkCreateIn,
                                    BulkCreateOut, CalendarOut, CalendarQuery,
                                    CalendarTokenOut, IcsQuery, NotificationOut,
                                    NotificationQuery, ReadAllOut, StatusIn, TaskCreateIn,
                                    TaskListQuery, TaskOut, TaskPatchIn, dump_notification,
                                    dump_task)

API = "/api/v1"
FEED_PATH = f"{API}/calendar.ics"


def public_base_url() -> str:
    """Where clients reach the gateway: the service itself only sees internal hosts, so
    the gateway's X-Forwarded-Host/-Proto when it sends them, else CRM_PUBLIC_URL, else
    the local gateway port."""
    host = request.headers.get("X-Forwarded-Host")
    if host:
        proto = request.headers.get("X-Forwarded-Proto", "http")
        return f"{proto}://{host.split(',')[0].strip()}"
    configured = os.environ.get("CRM_PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('CRM_PORT', '8080')}"


def blueprint(handlers, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("tasks", __name__, tag="tasks", url_prefix=API)

    def task_response(task, status: int = 200):
        return json_response(dump_task(task), status, version=task.version)

    # ---------------------------------------------------------------- tasks

    @api.operation("/tasks", "POST", summary="Create a task (assignee defaults to the caller; "
                   "supervisor+ may assign others or leave it in the pool; linked customers "
                   "and opportunity must be visible to the caller, else 422 "
                   "unknown_customer / unknown_opportunity)",
                   body=TaskCreateIn, response=TaskOut, status=201)
    @idempotent(lambda: idempotency)
    def create_task():
        body = parse_body(TaskCreateIn)
        return task_response(handlers.create(current_identity(), body), 201)

    @api.operation("/tasks", "GET", summary="List visible tasks (scope mine|created|team|pool)",
                   query=TaskListQuery, response=TaskOut, paginated=True)
    def list_tasks():
        query = parse_query(TaskListQuery, many=("status", "priority", "type"))
        tasks, total = handlers.list(current_identity(), query)
        return json_response(page_body([dump_task(t) for t in tasks], total,
                                       query["page"], query["per_page"]))

    @api.operation("/tasks/bulk", "POST", summary="One task per customer; reports per item",
                   body=BulkCreateIn, response=BulkCreateOut)
    def bulk_create():
        body = parse_body(BulkCreateIn)
        results = handlers.bulk_create(current_identity(), body["customer_ids"], body["task"])
        return json_response(BulkCreateOut().dump(
            {"results": results, "created": sum(1 for r in results if r["ok"])}))

    @api.operation("/tasks/bulk-assign", "POST",
                   summary="Deal tasks out over users round-robin; reports per item",
                   body=BulkAssignIn, response=BulkAssignOut)
    def bulk_assign():
        body = parse_body(BulkAssignIn)
        results = handlers.bulk_assign(current_identity(), body["task_ids"], body["user_ids"])
        return json_response(BulkAssignOut().dump(
            {"results": results, "assigned": sum(1 for r in results if r["ok"])}))

    @api.operation("/tasks/<task_id>", "GET", summary="Read a task", response=TaskOut)
    def get_task(task_id):
        return task_response(handlers.get(current_identity(), task_id))

    @api.operation("/tasks/<task_id>", "PATCH", summary="Edit a task (If-Match: version)",
                   body=TaskPatchIn, response=TaskOut)
    def patch_task(task_id):
        expected = if_match_version()
        changes = parse_body(TaskPatchIn, partial=True)
        return task_response(handlers.edit(current_identity(), task_id, changes,
                                           expected_version=expected))

    @api.operation("/tasks/<task_id>/assign", "POST", summary="Give the task to a user",
                   body=AssignIn, response=TaskOut)
    def assign_task(task_id):
        expected = if_match_version()
        body = parse_body(AssignIn)
        return task_response(handlers.assign(current_identity(), task_id, body["user_id"],
                                             expected_version=expected))

    @api.operation("/tasks/<task_id>/status", "POST",
                   summary="Move the task: todo → in_progress → done (needs result); "
                           "open → shelved; shelved → todo", body=StatusIn, response=TaskOut)
    def change_status(task_id):
        expected = if_match_version()
        body = parse_body(StatusIn)
        return task_response(handlers.change_status(current_identity(), task_id,
                                                    body["status"], body.get("result"),
                                                    expected_version=expected))

    # ---------------------------------------------------------------- inbox

    @api.operation("/notifications", "GET", summary="The caller's inbox, newest first",
                   query=NotificationQuery, response=NotificationOut, paginated=True)
    def list_notifications():
        query = parse_query(NotificationQuery)
        viewer = current_identity()
        notes, total = handlers.notifications(viewer, unread=query["unread"],
                                              page=query["page"], per_page=query["per_page"])
        body = page_body([dump_notification(n) for n in notes], total, query["page"],
                         query["per_page"])
        body["unread"] = handlers.unread_count(viewer)
        return json_response(body)

    @api.operation("/notifications/<note_id>/read", "POST", summary="Mark one as read",
                   response=NotificationOut)
    def read_notification(note_id):
        return json_response(dump_notification(
            handlers.read_notification(current_identity(), note_id)))

    @api.operation("/notifications/read-all", "POST", summary="Mark the whole inbox read",
                   response=ReadAllOut)
    def read_all_notifications():
        return json_response(ReadAllOut().dump(
            {"read": handlers.read_all_notifications(current_identity())}))

    # ---------------------------------------------------------------- calendar

    @api.operation("/calendar", "GET", summary="Day/week/month in the viewer's time zone",
                   query=CalendarQuery, response=CalendarOut)
    def calendar_view():
        query = parse_query(CalendarQuery)
        found = handlers.calendar(current_identity(), view=query["view"], day=query["date"],
                                  user_id=query["user_id"], scope=query["scope"])
        return json_response(CalendarOut().dump(found))

    @api.operation("/calendar/token", "POST",
                   summary="A new .ics feed token (revokes the previous one)",
                   response=CalendarTokenOut, status=201)
    def new_calendar_token():
        token = handlers.new_calendar_token(current_identity())
        return json_response(CalendarTokenOut().dump(
            {"token": token, "url": f"{public_base_url()}{FEED_PATH}?token={token}"}), 201)

    @api.operation("/calendar/token", "DELETE", summary="Revoke the .ics feed token",
                   status=204)
    def revoke_calendar_token():
        handlers.revoke_calendar_token(current_identity())
        return no_content()

    @api.operation("/calendar.ics", "GET", summary="RFC 5545 feed (authenticated by ?token=; "
                   "404 once revoked or its user is deactivated)",
                   query=IcsQuery)
    def calendar_feed():
        query = parse_query(IcsQuery)
        body = handlers.feed(query["token"])
        return Response(body, 200, content_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": 'inline; filename="crm-tasks.ics"',
                                 "Cache-Control": "private, max-age=60"})

    return api
