"""An opportunity's contact_id must be a contact of its customer (seed 002: 主要联系人
关联到联系人信息表), as the opportunity service learns the contacts from the customer
service's events; and the first stage has one label (seeds 002, 003: 初步接触)."""
from __future__ import annotations

from crm_testing import eventually
from opp_helpers import OPPS, customer_event, new_customer, open_when_known, opportunity_body


def test_contact_id_must_be_one_of_the_customers_contacts(people):
    rep = people["rep1"]
    customer = new_customer(rep)
    primary = customer["contacts"][0]["id"]
    other = new_customer(rep)["contacts"][0]["id"]
    opp = open_when_known(rep, customer["id"], contact_id=primary)
    assert opp["contact_id"] == primary
    refused = rep.post(OPPS, json=opportunity_body(customer["id"], contact_id=other))
    assert refused.status_code == 422 and list(refused.json["errors"]) == ["contact_id"]
    assert "联系人" in refused.json["errors"]["contact_id"][0]
    patched = rep.patch(f"{OPPS}/{opp['id']}", json={"contact_id": other})
    assert patched.status_code == 422 and "contact_id" in patched.json["errors"]
    assert rep.get(f"{OPPS}/{opp['id']}").json["contact_id"] == primary

    # a contact added later becomes usable once its event has reached the service
    added = rep.post(f"/api/v1/customers/{customer['id']}/contacts", json={"name": "李工"})
    assert added.status_code == 201, added
    eventually(lambda: rep.patch(f"{OPPS}/{opp['id']}", json={
        "contact_id": added.json["id"]}).status_code == 200, timeout=10,
        message="the new contact known to opportunities")
    # and a removed one stops being usable
    assert rep.patch(f"{OPPS}/{opp['id']}", json={"contact_id": primary}).status_code == 200
    assert rep.delete(f"/api/v1/customers/{customer['id']}/contacts/"
                      f"{added.json['id']}").status_code == 204
    eventually(lambda: rep.patch(f"{OPPS}/{opp['id']}", json={
        "contact_id": added.json["id"]}).status_code == 422, timeout=10,
        message="the removed contact refused")


def test_a_customer_copy_without_contact_ids_accepts_any_contact(people, opp_settings):
    """A copy made from events before they carried contact ids (older producers): the
    service cannot tell, so it accepts rather than refuses."""
    from crmkit.bus.publisher import Publisher

    rep = people["rep1"]
    customer_id = f"legacy-{rep.id}"
    created = customer_event("created", customer_id, owner=rep, in_pool=False)
    created["data"].pop("contact_ids", None)
    publisher = Publisher(opp_settings.amqp_url)
    try:
        publisher.publish(created)
    finally:
        publisher.close()
    opp = open_when_known(rep, customer_id, contact_id="ct-unknown-to-us", timeout=10)
    assert opp["contact_id"] == "ct-unknown-to-us"


def test_the_first_stage_is_labelled_as_the_seeds_name_it(people):
    pipeline = people["rep1"].get("/api/v1/pipeline").json
    first = pipeline["stages"][0]
    assert (first["key"], first["zh"], first["en"]) == ("lead", "初步接触", "Initial contact")
    assert first["labels"] == {"zh": "初步接触", "en": "Initial contact"}
