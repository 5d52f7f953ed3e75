"""The settings use cases (CONTRACT §11): any signed-in user reads them (the console
offers the data dictionary as dropdowns), an admin replaces them through the kernel's
command runner (load, If-Match, the domain's edit, save with `settings.updated`)."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from crmkit.commands import CommandRunner, Noun
from crmkit.errors import Forbidden
from crmkit.identity import Identity
from crmkit.settings import SETTINGS_ID, OrgParameters
from gateway.identity.settings import OrgSettingsRecord
from gateway.identity.settings_repository import SettingsRepository

ADMIN_ONLY = "只有管理员可以修改参数设置 / Only an administrator may change the settings."


class SettingsHandlers:
    def __init__(self, repository: SettingsRepository, *, producer: str = "gateway"):
        self.repository = repository
        self.runner: CommandRunner[OrgSettingsRecord] = CommandRunner(
            load=repository.load, save=self._save, producer=producer,
            noun=Noun("settings", "参数设置"))
        self.saved: list[Callable[[], None]] = []   # told after each replace here

    def _save(self, record: OrgSettingsRecord, loaded_version: int,
              envelopes: list[dict]) -> None:
        self.repository.save(record, loaded_version, envelopes)
        for listener in self.saved:
            listener()

    def current(self) -> OrgParameters:
        return self.repository.parameters()

    def sees_subordinates(self) -> bool:
        """上下级强制共享 now: what the gateway stamps on each forwarded identity."""
        return self.current().superiors_see_subordinates

    def replace(self, actor: Identity, data: Mapping[str, Any], *,
                expected_version: int | None = None) -> OrgParameters:
        if not actor.is_admin:
            raise Forbidden(ADMIN_ONLY, code="admin_required")
        record, _ = self.runner.run(SETTINGS_ID, lambda r: r.edit(data),
                                    actor_id=actor.user_id, expected_version=expected_version)
        return record.parameters
