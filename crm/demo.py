"""`crm up --demo`: a small realistic organisation, created through the public API.

Regions, teams and users first; then each service's own demo module
(`crm/demo_<svc>.py: load(org, people)`) adds its data, also through the API, in the
order the events need (customers before their opportunities and tasks).
"""
from __future__ import annotations

import logging
import os

from crm import demo_contracts, demo_customer, demo_opportunity, demo_reporting, demo_tasks
from crm.client import USER_PASSWORD, Org, http_transport

log = logging.getLogger(__name__)

DEMO_PASSWORD = USER_PASSWORD
# (username, name, role, team, region, timezone)
DEMO_USERS = [
    ("zhao.manager", "赵敏 Zhao Min", "manager", "east", "east", "Asia/Shanghai"),
    ("qian.super", "钱伟 Qian Wei", "supervisor", "east/shanghai", "east", "Asia/Shanghai"),
    ("sun.rep", "孙丽 Sun Li", "rep", "east/shanghai/team-1", "east", "Asia/Shanghai"),
    ("li.rep", "李强 Li Qiang", "rep", "east/shanghai/team-1", "east", "Asia/Shanghai"),
    ("zhou.rep", "周洁 Zhou Jie", "rep", "east/shanghai/team-2", "east", "Asia/Shanghai"),
    ("wu.super", "吴刚 Wu Gang", "supervisor", "east/hangzhou", "east", "Asia/Shanghai"),
    ("zheng.rep", "郑阳 Zheng Yang", "rep", "east/hangzhou/team-1", "east", "Asia/Shanghai"),
    ("wang.manager", "王芳 Wang Fang", "manager", "north", "north", "Asia/Shanghai"),
    ("feng.rep", "冯涛 Feng Tao", "rep", "north/beijing/team-1", "north", "Asia/Shanghai"),
    ("chen.rep", "陈晨 Chen Chen", "rep", "north/beijing/team-1", "north", "Europe/Berlin"),
]
SERVICE_DEMOS = {"customer": demo_customer, "opportunity": demo_opportunity,
                 "tasks": demo_tasks, "contracts": demo_contracts,
                 "reporting": demo_reporting}


def build_people(org: Org) -> dict:
    people: dict = {"by_username": {}}
    for username, name, role, team, region, timezone in DEMO_USERS:
        session = org.login(username, DEMO_PASSWORD)
        if not session.token:  # not there yet: create it
            session = org.user(role, team, region, timezone=timezone, username=username,
                               name=name, password=DEMO_PASSWORD)
        people.setdefault(role, []).append(session)
        people["by_username"][username] = session
    people["admin"] = [org.admin]
    return people


def load_demo(base_url: str, settings) -> dict:
    password = settings.admin_password or os.environ.get("CRM_ADMIN_PASSWORD")
    if not password:
        print("crm: --demo needs CRM_ADMIN_PASSWORD (the admin that creates the demo users)",
              flush=True)
        return {}
    org = Org(http_transport(base_url), settings.admin_username, password)
    first_username = DEMO_USERS[0][0]
    loaded_before = org.login(first_username, DEMO_PASSWORD).token is not None
    people = build_people(org)
    # the data is kept: a restart with --demo finds the demo there and adds nothing
    for service, module in () if loaded_before else SERVICE_DEMOS.items():
        try:
            module.load(org, people)
        except Exception:
            log.exception("demo data of %s failed", service)
    print("Demo logins (password for all: %s):" % DEMO_PASSWORD, flush=True)
    for username, name, role, team, _, _ in DEMO_USERS:
        print(f"  {username:<14} {role:<10} {team:<24} {name}", flush=True)
    return people
