"""The organisation's settings (参数设置, CONTRACT §11) as an aggregate the gateway owns:
上下级强制共享 and the data dictionary. Plain Python.

The dictionary's task types are chosen among CONTRACT §6's task kinds (visit, call, ...):
the tasks service, its events and the calendar know no others; the console labels them.

An admin's edit replaces the settings (what it leaves out takes its default: the switch
on, a list empty, i.e. free text), raises `version` and records `settings.updated` with
the whole new settings; the handler saves both in one write through
`crmkit.commands.CommandRunner`. The shape and defaults are the kernel's
(crmkit.settings.OrgParameters), shared with every service's copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from crmkit.errors import Invalid
from crmkit.events import DomainEvent
from crmkit.settings import (LISTS, MAX_KIND_LENGTH, MAX_OPTION_LENGTH, MAX_OPTIONS,
                             MAX_TAG_KINDS, SETTINGS_ID, TAGS, UPDATED, OrgParameters,
                             unique_options)
from events.tasks import TASK_TYPES


@dataclass
class OrgSettingsRecord:
    parameters: OrgParameters = field(default_factory=OrgParameters)
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def version(self) -> int:
        return self.parameters.version

    def edit(self, data: Mapping[str, Any]) -> None:
        """An admin's edit (already of the right types), or 422 naming each bad field."""
        dictionary = data.get("dictionary") or {}
        errors = dictionary_problems(dictionary)
        if errors:
            raise Invalid(errors)
        new = OrgParameters.from_dict({
            "superiors_see_subordinates": data.get("superiors_see_subordinates", True),
            "dictionary": {**{key: [v.strip() for v in dictionary.get(key) or []]
                              for key in LISTS},
                           TAGS: {kind.strip(): [v.strip() for v in values or []]
                                  for kind, values in (dictionary.get(TAGS) or {}).items()}},
            "version": self.version + 1})
        self.parameters = new
        self.events.append(DomainEvent(UPDATED, SETTINGS_ID, data=new.to_dict()))

    def to_dict(self) -> dict:
        return self.parameters.to_dict()


def dictionary_problems(dictionary: Mapping[str, Any]) -> dict[str, list[str]]:
    """{dotted field: [message]}: every option a non-empty string of bounded length, no
    option twice in one list, a bounded number of options and tag kinds."""
    errors: dict[str, list[str]] = {}
    for key in LISTS:
        _check_options(f"dictionary.{key}", dictionary.get(key) or [], errors)
    # A task's type is one of CONTRACT §6's kinds: the dictionary picks those in use.
    unknown = [t for t in dictionary.get("task_type") or [] if t.strip() not in TASK_TYPES]
    if unknown and "dictionary.task_type" not in errors:
        errors["dictionary.task_type"] = [
            f"Task types are chosen from {', '.join(TASK_TYPES)}; not: {', '.join(unknown)}. "
            f"/ 任务类型只能从 {'、'.join(TASK_TYPES)} 中选择。"]
    kinds = dictionary.get(TAGS) or {}
    if len(kinds) > MAX_TAG_KINDS:
        errors[f"dictionary.{TAGS}"] = [
            f"At most {MAX_TAG_KINDS} tag kinds. / 标签类别最多 {MAX_TAG_KINDS} 个。"]
    stripped = [kind.strip() for kind in kinds]
    for kind, values in kinds.items():
        name = f"dictionary.{TAGS}.{kind}" if kind.strip() else f"dictionary.{TAGS}"
        if not kind.strip() or len(kind.strip()) > MAX_KIND_LENGTH:
            errors[name] = [f"A tag kind is 1 to {MAX_KIND_LENGTH} characters. "
                            f"/ 标签类别须为 1 到 {MAX_KIND_LENGTH} 个字符。"]
            continue
        if stripped.count(kind.strip()) > 1:
            errors[name] = ["This tag kind is given twice. / 标签类别重复。"]
            continue
        _check_options(name, values or [], errors)
    return errors


def _check_options(name: str, values: list[str], errors: dict) -> None:
    if len(values) > MAX_OPTIONS:
        errors[name] = [f"At most {MAX_OPTIONS} options. / 选项最多 {MAX_OPTIONS} 个。"]
        return
    cleaned = [v.strip() for v in values]
    if any(not v or len(v) > MAX_OPTION_LENGTH for v in cleaned):
        errors[name] = [f"Each option is 1 to {MAX_OPTION_LENGTH} characters. "
                        f"/ 每个选项须为 1 到 {MAX_OPTION_LENGTH} 个字符。"]
        return
    repeated = unique_options(cleaned)
    if repeated:
        errors[name] = [f"Options given twice: {', '.join(repeated)}. "
                        f"/ 选项重复:{'、'.join(repeated)}。"]
