"""The opportunity pipeline as reporting knows it: the default until the opportunity
service's `pipeline.updated` says otherwise."""
from __future__ import annotations

from services.reporting.fields import probability_bp

DEFAULT_PIPELINE = {
    "stages": [
        {"key": "lead", "zh": "线索获取", "en": "Lead", "probability": 10, "order": 1},
        {"key": "needs_analysis", "zh": "需求分析", "en": "Needs analysis",
         "probability": 25, "order": 2},
        {"key": "proposal", "zh": "方案提交", "en": "Proposal", "probability": 50, "order": 3},
        {"key": "negotiation", "zh": "商务谈判", "en": "Negotiation", "probability": 75,
         "order": 4},
        {"key": "contract", "zh": "合同签订", "en": "Contract", "probability": 90, "order": 5},
    ],
}


def stage_order(pipeline: dict) -> list[str]:
    stages = sorted(pipeline.get("stages") or [], key=lambda s: (s.get("order", 0), s["key"]))
    return [s["key"] for s in stages]


def stage_probability_bp(pipeline: dict, stage: str | None) -> int:
    for s in pipeline.get("stages") or []:
        if s["key"] == stage:
            return probability_bp(s.get("probability")) or 0
    return 0
