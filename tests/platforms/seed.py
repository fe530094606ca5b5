"""The seed example of the template, shared by every platform's tests: the people, the record, the typed text.

People are named by role; each platform's driver maps a role to its own user id.
Dates are given as every platform's pickers can give them (a date, or a date and
a time): the sandbox also takes 明天 and 3月15日, which its own tests cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROLES = ("zhang", "li", "wang", "zhao", "liu")
NAMES = {"zhang": "张伟", "li": "李娜", "wang": "王芳", "zhao": "赵强", "liu": "刘洋"}

# What a person might type that must stay text on every platform.
INJECTION = (
    "<at id=all></at><at user_id=\"all\">所有人</at><font color='red'>红</font> <!channel> <!here> <!everyone> "
    "<@U0EVIL> <https://evil.example|点我> [点我](https://evil.example) **加粗** <@ou_evil>"
)


def seed_record(ids: Mapping[str, str], *, typed: str = "") -> dict[str, Any]:
    """The record form's values (nested, as the core reads them); ``typed`` is added to every free text."""
    return {
        "topic": f"订单系统数据延迟问题专项沟通{typed}",
        "meeting_start": "2026-11-24 14:00",
        "meeting_end": "2026-11-24 15:30",
        "place": "3楼会议室",
        "category": "technical",
        "participants": [
            {"person": ids["zhang"], "department": "运营部", "authority": "decision"},
            {"person": ids["li"], "department": "技术部", "authority": "both"},
            {"person": ids["wang"], "department": "财务部", "authority": "resource"},
        ],
        "problem": f"自11月20日起订单系统数据同步延迟约4小时，客服无法查询最新订单状态{typed}",
        "problem_what": "订单数据同步延迟",
        "impact": "客服投诉每天约40起",
        "key_points": [
            {"department": "技术部", "text": f"硬件采购需走流程，周期约5天{typed}"},
            {"department": "运营部", "text": "需在双12前恢复到1.5小时以内"},
        ],
        "items": [
            {"description": f"优化同步脚本为多线程{typed}", "owner": ids["li"], "due": "2026-11-27",
             "measure": "延迟≤1.5小时", "term": "short"},
            {"description": "审批临时扩容预算5000元", "owner": ids["wang"], "due": "2026-11-26", "measure": "审批单通过",
             "term": "short"},
            {"description": "建立延迟监控告警", "owner": ids["zhao"], "due": "2026-12-10", "measure": "延迟超1小时告警",
             "term": "long"},
        ],
        "resources": [{"what": "临时扩容服务器", "amount": "5000", "unit": "元", "approver": ids["wang"]}],
        "cc_people": [ids["liu"]],
        "cc_departments": "总经办",
        "notes": f"下次会议复盘进展{typed}",
        "next_meeting_at": "2026-12-01 10:00",
    }  # fmt: skip


def flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested form values as dotted input names: ``items.0.owner`` (what a form's inputs are named)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, row in enumerate(value):
                for field, cell in row.items():
                    out[f"{key}.{index}.{field}"] = cell
        else:
            out[key] = value
    return out
