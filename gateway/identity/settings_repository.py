"""The only module that stores the organisation's settings (one document, `settings`),
with its pending `settings.updated` envelopes in the single-document outbox and the
integer `version` every save checks. The defaults (version 0) are not stored until an
admin first edits them.
"""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from crmkit.bus.outbox import notify_outbox, with_outbox
from crmkit.errors import VersionConflict
from crmkit.settings import SETTINGS_ID, OrgParameters
from gateway.identity.settings import OrgSettingsRecord

SETTINGS = "settings"
CHANGED = "设置已被他人修改,请刷新后重试 / The settings changed meanwhile; reload and try again."


class SettingsRepository:
    def __init__(self, database):
        self.settings = database[SETTINGS]

    def load(self, _id: str = SETTINGS_ID) -> OrgSettingsRecord:
        doc = self.settings.find_one({"_id": SETTINGS_ID},
                                     {"superiors_see_subordinates": 1, "dictionary": 1,
                                      "version": 1})
        return OrgSettingsRecord(OrgParameters.from_dict(doc))

    def parameters(self) -> OrgParameters:
        return self.load().parameters

    def save(self, record: OrgSettingsRecord, loaded_version: int,
             envelopes: list[dict]) -> None:
        try:
            result = self.settings.update_one(
                {"_id": SETTINGS_ID, "version": loaded_version},
                with_outbox({"$set": record.to_dict()}, envelopes),
                upsert=loaded_version == 0)
        except DuplicateKeyError:
            raise VersionConflict(CHANGED, code="version_conflict") from None
        if result.matched_count == 0 and result.upserted_id is None:
            raise VersionConflict(CHANGED, code="version_conflict")
        if envelopes:  # the relay in this process sends them now, not at its next poll
            notify_outbox(SETTINGS, [SETTINGS_ID])
