"""`crm up --demo`: sample customers across regions and teams, through the public API.

Each rep brings in a few customers of their own (with contacts and follow-ups), the
supervisors fill the pool, one customer is shared and one assigned, so every screen of
the manual (客户池 / 我的客户 / 共享客户) has something to show. Running it again is
harmless: existing names answer 409 and are skipped.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)
API = "/api/v1/customers"

# username -> customers that rep owns: (name, industry, status, level, source, tags,
# contact name, phone, needs)
OWNED = {
    "sun.rep": [
        ("上海商策科技有限公司", "软件", "intent", "A", "展会推广", ["重点跟进", "高价值"],
         "王建国", "13812345678", "采购 CRM 系统,200 个账号"),
        ("上海浦江物流股份有限公司", "物流", "potential", "B", "官网注册", ["华东"],
         "陈晓燕", "13917654321", "车队调度与客户管理"),
    ],
    "li.rep": [
        ("上海申远精密机械有限公司", "制造业", "deal", "A", "客户转介绍", ["已合作"],
         "刘志强", "13601234567", "续签维保合同"),
        ("上海云帆教育科技有限公司", "教育", "potential", "C", "线上推广", ["观望"],
         "赵敏", "13788889999", "招生线索管理"),
    ],
    "zhou.rep": [
        ("上海绿源食品有限公司", "零售业", "intent", "B", "展会推广", ["高意向"],
         "孙丽华", "13566667777", "门店会员系统"),
    ],
    "zheng.rep": [
        ("杭州西溪数据服务有限公司", "互联网", "intent", "A", "客户转介绍", ["重点跟进"],
         "郑海涛", "13857112345", "数据平台采购"),
        ("杭州钱塘新能源有限公司", "新能源", "potential", "B", "主动开发", ["新能源"],
         "吴佳", "13967123456", "储能项目管理"),
    ],
    "feng.rep": [
        ("北京华清软件有限公司", "软件", "intent", "A", "展会推广", ["重点跟进"],
         "冯磊", "13911112222", "销售管理系统替换"),
        ("北京京北医疗器械有限公司", "医疗", "potential", "B", "官网注册", ["医疗"],
         "何静", "13522223333", "经销商管理"),
    ],
    "chen.rep": [
        ("天津海港贸易有限公司", "贸易", "lost", "D", "主动开发", ["流失客户"],
         "陈刚", "13633334444", "预算冻结"),
    ],
}
# Unclaimed customers the supervisors put in the pool (客户池).
POOL = {
    "qian.super": [
        ("上海金桥电子有限公司", "电子", "potential", "C", "市场部名单", "林峰", "13744445555"),
        ("上海东方会展服务有限公司", "服务业", "potential", "C", "市场部名单", "许倩",
         "13855556666"),
        ("苏州工业园智能装备有限公司", "制造业", "potential", "B", "展会推广", "蒋涛",
         "13966667777"),
    ],
    "wang.manager": [
        ("北京中关村信息技术有限公司", "互联网", "potential", "B", "客户转介绍", "韩梅",
         "13177778888"),
    ],
}


def _first(people: dict, username: str):
    return people.get("by_username", {}).get(username)


def _create(session, body: dict) -> dict | None:
    reply = session.post(API, json=body)
    if reply.status_code == 201:
        return reply.json
    if reply.status_code != 409:
        log.warning("demo customer %s not created: %s", body.get("name"), reply)
    return None


def load(org, people: dict) -> dict:
    created: list[dict] = []
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for username, rows in OWNED.items():
        rep = _first(people, username)
        if rep is None:
            continue
        for offset, (name, industry, status, level, source, tags, contact, phone,
                     needs) in enumerate(rows):
            customer = _create(rep, {
                "name": name, "industry": industry, "status": status, "level": level,
                "source": source, "tags": tags, "needs": needs, "size": "100-1000人",
                "primary_contact": {"name": contact, "phone": phone, "title": "采购经理"}})
            if customer is None:
                continue
            created.append(customer)
            url = f"{API}/{customer['id']}"
            rep.post(f"{url}/contacts", json={
                "name": f"{contact[0]}工", "title": "技术总监", "role": "evaluator",
                "relationship": "acquainted", "mobile": "13700000000"[:-len(str(offset))]
                + str(offset)})
            for days, method, subject in ((12, "call", "首次电话沟通"),
                                          (3 + offset, "visit", "上门拜访,演示产品")):
                rep.post(f"{url}/interactions", json={
                    "occurred_at": (now - timedelta(days=days)).isoformat(),
                    "method": method, "subject": subject, "content": f"{name}:{needs}",
                    "attitude": "positive", "next_action": "发送报价",
                    "next_action_due": (now + timedelta(days=7)).date().isoformat()})
    for username, rows in POOL.items():
        session = _first(people, username)
        if session is None:
            continue
        for name, industry, status, level, source, contact, phone in rows:
            customer = _create(session, {
                "name": name, "industry": industry, "status": status, "level": level,
                "source": source, "in_pool": True,
                "primary_contact": {"name": contact, "phone": phone}})
            if customer:
                created.append(customer)
    # 共享: Sun shares her key account with Li; 指派: Qian hands a pool customer to Zhou.
    sun, li = _first(people, "sun.rep"), _first(people, "li.rep")
    qian, zhou = _first(people, "qian.super"), _first(people, "zhou.rep")
    by_name = {c["name"]: c for c in created}
    key = by_name.get("上海商策科技有限公司")
    if sun and li and key:
        sun.post(f"{API}/{key['id']}/shares", json={"user_ids": [li.id]})
    pooled = by_name.get("上海金桥电子有限公司")
    if qian and zhou and pooled:
        qian.post(f"{API}/{pooled['id']}/assign", json={"user_id": zhou.id})
    return {"customers": created}
