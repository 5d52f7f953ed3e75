"""The stage pipeline: one per organisation, edited by admins, an aggregate of its own.

Plain Python. An edit raises `version` and records `pipeline.updated` in `events`; the
handler saves both in one write through `crmkit.commands.CommandRunner`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from crmkit.errors import Conflict, Invalid
from crmkit.events import DomainEvent

import events.opportunity
from events.opportunity import LOST, WON

PIPELINE_ID = "pipeline"
# The two ways out of the pipeline. They look like stages to users (with a
# probability) but are reached only through win / lose, never through a stage change.
CLOSING = {
    WON: {"key": WON, "zh": "赢单", "en": "Won", "labels": {"zh": "赢单", "en": "Won"},
          "probability": 100},
    LOST: {"key": LOST, "zh": "输单", "en": "Lost", "labels": {"zh": "输单", "en": "Lost"},
           "probability": 0},
}
STAGE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_STAGES = 20
LABEL_MAX = 40


@dataclass(frozen=True)
class Stage:
    key: str
    label_zh: str
    label_en: str
    probability: int  # the default probability (percent) of an opportunity in it
    order: int

    @property
    def labels(self) -> dict:
        return {"zh": self.label_zh, "en": self.label_en}

    def to_dict(self) -> dict:
        return {"key": self.key, "zh": self.label_zh, "en": self.label_en,
                "labels": self.labels, "probability": self.probability, "order": self.order}


DEFAULT_STAGES = tuple(Stage(key, zh, en, probability, order) for order, (key, zh, en, probability)
                       in enumerate(events.opportunity.DEFAULT_STAGES, 1))


@dataclass
class Pipeline:
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    version: int = 1  # the default pipeline is version 1 until first edited
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def default(cls) -> "Pipeline":
        return cls()

    @property
    def first(self) -> Stage:
        return self.stages[0]

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.stages]

    @property
    def closing(self) -> list[dict]:
        return [dict(CLOSING[outcome], labels=dict(CLOSING[outcome]["labels"]))
                for outcome in (WON, LOST)]

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def probability_of(self, key: str) -> int | None:
        if key in CLOSING:
            return CLOSING[key]["probability"]
        found = self.stage(key)
        return found.probability if found else None

    def require_stage(self, key: str) -> Stage:
        if key in CLOSING:
            raise Invalid({"stage": [
                f"'{key}' closes the opportunity: use /win or /lose. "
                f"「{CLOSING[key]['labels']['zh']}」请通过赢单/输单操作完成。"]},
                code="closing_stage")
        found = self.stage(key)
        if found is None:
            raise Invalid({"stage": [f"Unknown stage '{key}'. Stages: {', '.join(self.keys)}. "
                                     "阶段不存在。"]}, code="unknown_stage")
        return found

    def is_forward(self, from_key: str, to_key: str) -> bool:
        keys = self.keys
        if from_key not in keys or to_key not in keys:
            return True
        return keys.index(to_key) > keys.index(from_key)

    def edit(self, stages: Iterable[Mapping[str, Any] | Stage],
             open_counts: Mapping[str, int]) -> None:
        """An admin's edit, or an error saying why not.

        `open_counts` is how many open opportunities sit in each stage now: a stage may
        not be removed while any do (they would be left in a stage that no longer
        exists). Renaming a key is a removal plus an addition, so the same rule holds.
        """
        new_stages = _parse_stages(list(stages))
        kept = {s.key for s in new_stages}
        blocked = {key: n for key, n in open_counts.items() if n and key not in kept}
        if blocked:
            names = ", ".join(f"{k} ({n})" for k, n in sorted(blocked.items()))
            raise Conflict(
                f"Open opportunities still sit in: {names}. Move them first. "
                "该阶段仍有进行中的商机,不能删除。",
                code="stage_in_use", stages=blocked)
        self.stages = tuple(new_stages)
        self.version += 1
        self.events.append(DomainEvent("pipeline.updated", PIPELINE_ID, data={
            "stages": [s.to_dict() for s in self.stages], "version": self.version}))

    def to_dict(self) -> dict:
        return {"stages": [s.to_dict() for s in self.stages], "closing": self.closing,
                "version": self.version}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "Pipeline":
        stages = tuple(_stage_from(item, i) for i, item in enumerate(doc["stages"]))
        return cls(tuple(sorted(stages, key=lambda s: s.order)), int(doc.get("version", 1)))


def _stage_from(item: Mapping[str, Any] | Stage, position: int) -> Stage:
    if isinstance(item, Stage):
        return item
    # labels as {"labels": {"zh", "en"}} or flat "zh"/"en" (or "label_zh"/"label_en")
    labels = item.get("labels") or {}
    order = item.get("order")
    return Stage(
        key=item.get("key"),
        label_zh=labels.get("zh", item.get("zh", item.get("label_zh"))),
        label_en=labels.get("en", item.get("en", item.get("label_en"))),
        probability=item.get("probability"),
        order=position + 1 if order is None else order,  # list position by default
    )


def _parse_stages(items: list) -> list[Stage]:
    errors: dict[str, list[str]] = {}
    if not items:
        raise Invalid("stages", "At least one stage is needed. 至少需要一个阶段。")
    if len(items) > MAX_STAGES:
        raise Invalid("stages", f"At most {MAX_STAGES} stages.")
    stages = [_stage_from(item, i) for i, item in enumerate(items)]
    seen_keys: set[str] = set()
    seen_orders: set[int] = set()
    for i, s in enumerate(stages):
        at = f"stages.{i}"
        if not isinstance(s.key, str) or not STAGE_KEY.match(s.key):
            errors.setdefault(f"{at}.key", []).append(
                "Lower-case letters, digits and _ , starting with a letter.")
        elif s.key in CLOSING:
            errors.setdefault(f"{at}.key", []).append(
                f"'{s.key}' is reserved for closing an opportunity.")
        elif s.key in seen_keys:
            errors.setdefault(f"{at}.key", []).append("Duplicate stage key.")
        seen_keys.add(s.key)
        for lang, label in (("zh", s.label_zh), ("en", s.label_en)):
            if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX:
                errors.setdefault(f"{at}.labels.{lang}", []).append(
                    f"A label of 1 to {LABEL_MAX} characters is required.")
        if (not isinstance(s.probability, int) or isinstance(s.probability, bool)
                or not 0 <= s.probability <= 100):
            errors.setdefault(f"{at}.probability", []).append(
                "A whole percentage from 0 to 100.")
        if not isinstance(s.order, int) or isinstance(s.order, bool):
            errors.setdefault(f"{at}.order", []).append("An integer.")
        elif s.order in seen_orders:
            errors.setdefault(f"{at}.order", []).append("Duplicate order.")
        else:
            seen_orders.add(s.order)
    if errors:
        raise Invalid(errors)
    ordered = sorted(stages, key=lambda s: s.order)
    # Stored orders are renumbered 1..n so "first stage" and sorting never tie.
    return [replace(s, label_zh=s.label_zh.strip(), label_en=s.label_en.strip(), order=i + 1)
            for i, s in enumerate(ordered)]
