"""The customer service's events: customer.*, contact.* and interaction.*.

Every customer.* event carries the customer as it is after the change (a snapshot), so a
consumer can keep its own copy from any one event; `version` says which is newer.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.events import event_schema
from events._fields import DATE, changes_field, when
PRODUCER = "customer"
# The vocabularies the events carry (the domain takes them from here: the contract owns them).
STATUSES = ("potential", "intent", "deal", "lost")
METHODS = ("call", "visit", "email", "meeting", "wechat", "other")
MONEY = {"description": "money: a string with two decimals, or a number", "example": "12000.50"}


class CustomerSnapshotData(Schema):
    """The customer as it is after the change; every customer.* event carries it."""

    customer_id = fields.String(required=True)
    id = fields.String(required=True, metadata={"description": "same as customer_id"})
    number = fields.String(required=True)
    name = fields.String(required=True)
    industry = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    level = fields.String(allow_none=True, required=True)
    source = fields.String(allow_none=True, required=True)
    tags = fields.List(fields.String(), required=True)
    region = fields.String(allow_none=True, required=True)
    owner_id = fields.String(allow_none=True, required=True,
                             metadata={"description": "null: unclaimed, in the pool"})
    owner_team = fields.String(allow_none=True, required=True)
    owner_region = fields.String(allow_none=True, required=True)
    owner_name = fields.String(allow_none=True, required=True)
    shared_with = fields.List(fields.String(), required=True)
    shared_teams = fields.List(fields.String(), load_default=list, metadata={
        "description": "team paths shared with: every present and future member of each "
                       "and of the teams below it sees the customer (CONTRACT §11)"})
    deal_amount = fields.String(required=True, metadata=MONEY)
    currency = fields.String(required=True)
    last_deal_on = fields.String(allow_none=True, required=True, metadata=DATE)
    last_followup_at = when(required=True)
    created_by = fields.String(required=True)
    created_at = when(required=True)
    contact_ids = fields.List(fields.String(), metadata={
        "description": "ids of the customer's contacts (events before it was added lack it)"})
    version = fields.Integer(required=True, metadata={
        "description": "the customer's version after the change: newer wins"})


class _OwnerChange(CustomerSnapshotData):
    previous_owner_id = fields.String(allow_none=True, required=True)


@event_schema("customer.created", producer=PRODUCER,
              summary="A customer was created, owned by its creator (or a given owner) or "
                      "unclaimed in the pool.")
class CustomerCreatedData(CustomerSnapshotData):
    in_pool = fields.Boolean(required=True)


@event_schema("customer.updated", producer=PRODUCER,
              summary="Fields of a customer changed: by an edit, a won opportunity "
                      "(status, deal_amount, last_deal_on) or a completed follow-up task "
                      "(last_followup_at).")
class CustomerUpdatedData(CustomerSnapshotData):
    changes = changes_field()
    reason = fields.String(required=True, validate=validate.OneOf(
        ["edited", "opportunity_won", "task_completed"]))
    opportunity_id = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)


@event_schema("customer.claimed", producer=PRODUCER,
              summary="A pool customer was claimed (领用): owner_id is the claimer.")
class CustomerClaimedData(_OwnerChange):
    pass


@event_schema("customer.returned", producer=PRODUCER,
              summary="A customer went back to the pool (归还), by its owner or a "
                      "superior, or by auto-reclaim (auto: true).")
class CustomerReturnedData(_OwnerChange):
    reason = fields.String(allow_none=True, required=True)
    auto = fields.Boolean(required=True)
    rule = fields.String(validate=validate.OneOf(["no_followup", "no_deal"]))
    due_on = fields.String(metadata=DATE)


@event_schema("customer.recovered", producer=PRODUCER,
              summary="A supervisor or above took a customer back into the pool (收回).")
class CustomerRecoveredData(_OwnerChange):
    reason = fields.String(allow_none=True, required=True)


@event_schema("customer.assigned", producer=PRODUCER,
              summary="A customer was given to another owner (指派); the previous owner "
                      "lost access.")
class CustomerAssignedData(_OwnerChange):
    pass


@event_schema("customer.shared", producer=PRODUCER,
              summary="A customer was shared with users (read and log follow-ups).")
class CustomerSharedData(CustomerSnapshotData):
    user_ids = fields.List(fields.String(), required=True,
                           metadata={"description": "the users newly shared with"})
    teams = fields.List(fields.String(), load_default=list,
                        metadata={"description": "the teams newly shared with"})


@event_schema("customer.unshared", producer=PRODUCER,
              summary="A customer is no longer shared with a user.")
class CustomerUnsharedData(CustomerSnapshotData):
    user_ids = fields.List(fields.String(), required=True)
    teams = fields.List(fields.String(), load_default=list)


@event_schema("customer.deleted", producer=PRODUCER,
              summary="An unclaimed customer was deleted from the pool.")
class CustomerDeletedData(CustomerSnapshotData):
    pass


@event_schema("customer.reclaim_warning", producer=PRODUCER,
              summary="The owner's customer will be reclaimed to the pool on due_on "
                      "unless followed up / dealt with (sent once per deadline).")
class CustomerReclaimWarningData(CustomerSnapshotData):
    due_on = fields.String(required=True, metadata=DATE)
    days_left = fields.Integer(required=True)
    rule = fields.String(required=True, validate=validate.OneOf(["no_followup", "no_deal"]))


class _CustomerRef(Schema):
    customer_id = fields.String(required=True)
    owner_id = fields.String(allow_none=True, required=True)
    owner_team = fields.String(allow_none=True, required=True)
    owner_region = fields.String(allow_none=True, required=True)


class _ContactsAfter(_CustomerRef):
    contact_ids = fields.List(fields.String(), metadata={
        "description": "ids of the customer's contacts after the change"})
    version = fields.Integer(metadata={
        "description": "the customer's version after the change: newer wins"})


class _ContactData(_ContactsAfter):
    contact_id = fields.String(required=True)
    name = fields.String(required=True)
    title = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    relationship = fields.String(allow_none=True)
    is_primary = fields.Boolean(required=True)


@event_schema("contact.created", producer=PRODUCER, summary="A contact was added to a customer.")
class ContactCreatedData(_ContactData):
    pass


@event_schema("contact.updated", producer=PRODUCER, summary="A customer's contact changed.")
class ContactUpdatedData(_ContactData):
    pass


@event_schema("contact.deleted", producer=PRODUCER, summary="A contact was removed.")
class ContactDeletedData(_ContactsAfter):
    contact_id = fields.String(required=True)


@event_schema("interaction.logged", producer=PRODUCER,
              summary="A follow-up record (跟进记录) was logged; the customer's "
                      "last_followup_at moved to it if later.")
class InteractionLoggedData(_CustomerRef):
    interaction_id = fields.String(required=True)
    occurred_at = when(required=True)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    subject = fields.String(required=True)
    attitude = fields.String(allow_none=True)
    contact_ids = fields.List(fields.String(), required=True)
    opportunity_id = fields.String(allow_none=True)
    next_action = fields.String(allow_none=True)
    next_action_due = fields.String(allow_none=True, metadata=DATE)
    created_by = fields.String(required=True)
    location = fields.String(allow_none=True, metadata={"description": "互动地点"})
    participants = fields.List(fields.String(), metadata={
        "description": "我方参与人: ids of our users who took part"})
    version = fields.Integer(metadata={
        "description": "the customer's version after the change: orders a follow-up's "
                       "events (absent from events before it was added)"})


@event_schema("interaction.updated", producer=PRODUCER,
              summary="Its author corrected a follow-up record; the record as it is now, "
                      "and what changed.")
class InteractionUpdatedData(InteractionLoggedData):
    changes = changes_field()


@event_schema("interaction.deleted", producer=PRODUCER,
              summary="Its author deleted a follow-up record (it no longer counts).")
class InteractionDeletedData(_CustomerRef):
    interaction_id = fields.String(required=True)
    created_by = fields.String(required=True)
    deleted_by = fields.String(required=True)
    version = fields.Integer(required=True, metadata={
        "description": "the customer's version after the change"})

