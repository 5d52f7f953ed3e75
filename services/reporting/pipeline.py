"""The opportunity pipeline as reporting knows it: the default until the opportunity
service's `pipeline.updated` says otherwise."""
from __future__ import annotations

from events.opportunity import DEFAULT_STAGES
from services.reporting.fields import probability_bp

DEFAULT_PIPELINE = {
    "stages": [{"key": key, "zh": zh, "en": en, "probability": probability, "order": order}
               for order, (key, zh, en, probability) in enumerate(DEFAULT_STAGES, 1)],
}


def stage_order(pipeline: dict) -> list[str]:
    stages = sorted(pipeline.get("stages") or [], key=lambda s: (s.get("order", 0), s["key"]))
    return [s["key"] for s in stages]


def stage_probability_bp(pipeline: dict, stage: str | None) -> int:
    for s in pipeline.get("stages") or []:
        if s["key"] == stage:
            return probability_bp(s.get("probability")) or 0
    return 0
