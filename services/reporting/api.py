"""HTTP entry points of the reporting service (CONTRACT §7): parse, compute, render."""
from __future__ import annotations

from flask import Response, stream_with_context

from crmkit.web import (ApiBlueprint, current_identity, json_response, parse_body,
                        parse_query, require_role)
from services.reporting import render
from services.reporting.schemas import (ActivityQuery, CustomerValueQuery, FormatQuery,
                                        ForecastQuery, ForecastVsTargetQuery, FunnelQuery,
                                        PerformanceQuery,
                                        TargetIn, TargetOut, TargetQuery, WinLossQuery)

REPORTS = (
    ("summary", FormatQuery, "Headline figures the caller may see"),
    ("funnel", FunnelQuery, "Open opportunities per stage, stage conversion, win rate"),
    ("performance", PerformanceQuery,
     "Won amount against targets per owner/team/region and month/quarter/year"),
    ("activity", ActivityQuery,
     "Interactions by method, tasks completed, customers touched and converted"),
    ("forecast", ForecastQuery, "Open amount x probability by expected close period "
     "(month, quarter or year)"),
    ("forecast-vs-target", ForecastVsTargetQuery,
     "Forecast against target per owner/team/region and month/quarter/year: won so far, "
     "weighted open amount expected to close, expected total, target, gap (销售预测与目标对比)"),
    ("customer-value", CustomerValueQuery, "Customer value: ABC classes or RFM scores; "
     "`items` paged (`page`, `per_page`, `total`), the classes, shares and scores those of "
     "all the customers the caller sees; csv / xlsx hold every row"),
    ("win-loss", WinLossQuery, "Wins and losses: loss reasons, average cycle days"),
)


def blueprint(handlers) -> ApiBlueprint:
    api = ApiBlueprint("reports", __name__, tag="reports", url_prefix="/api/v1")
    api.handlers = handlers  # reachable from tests: app.blueprints["reports"].handlers

    def report_view(name: str, schema):
        def view():
            query = parse_query(schema)
            payload = handlers.report(name, current_identity(), query)
            if query["format"] == "json":
                return json_response(payload)
            body, content_type, filename = render.render(name, payload, query["format"],
                                                         stream=True)
            if not isinstance(body, bytes):  # read as it is sent (the request's context
                body = stream_with_context(body)  # kept for it)
            return Response(body, content_type=content_type, headers={
                "Content-Disposition": f'attachment; filename="{filename}"'})

        view.__name__ = f"report_{name.replace('-', '_')}"
        return view

    for name, schema, summary in REPORTS:
        api.operation(f"/reports/{name}", "GET", summary=summary, query=schema)(
            report_view(name, schema))

    @api.operation("/targets", "PUT", summary="Set a sales target for an owner, team or "
                   "region and a period (2026-11, 2026-Q4, 2026)", body=TargetIn,
                   response=TargetOut)
    def put_target():
        body = parse_body(TargetIn)
        return json_response(TargetOut().dump(handlers.put_target(current_identity(), body)))

    @api.operation("/targets", "GET", summary="Targets the caller may see",
                   query=TargetQuery, response=TargetOut, listed=True)
    def list_targets():
        query = parse_query(TargetQuery)
        items = handlers.list_targets(current_identity(), query["scope"], query["period"])
        return json_response({"items": TargetOut(many=True).dump(items), "total": len(items)})

    @api.operation("/reports/rebuild", "POST", status=202,
                   summary="Admin: drop the read models and replay every kept event "
                           "(runs in the background; GET shows how it goes)")
    def rebuild():
        require_role("admin")
        return json_response(handlers.start_rebuild(current_identity()), 202)

    @api.operation("/reports/rebuild", "GET", summary="Admin: the last rebuild's status "
                   "(idle | running | done | failed, events replayed, seconds)")
    def rebuild_status():
        require_role("admin")
        return json_response(handlers.rebuild_status())

    return api
