"""The template's advice as lint: vague and blaming wording, concrete deliverables, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.rules import RULES, ActionItemInput, FindingKind, check_action_item, check_texts

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "kind", "phrase"),
    [
        ("请技术部尽快解决", FindingKind.VAGUE, "尽快"),
        ("双方加强沟通", FindingKind.VAGUE, "加强沟通"),
        ("Fix the sync job ASAP", FindingKind.VAGUE, "ASAP"),
        ("fix it as soon as possible", FindingKind.VAGUE, "as soon as possible"),
        ("后续进一步优化", FindingKind.VAGUE, "进一步优化"),
        ("技术部不配合", FindingKind.BLAMING, "不配合"),
        ("采购流程不合理", FindingKind.BLAMING, "不合理"),
        ("运营在甩锅", FindingKind.BLAMING, "甩锅"),
        ("IT refused to help us", FindingKind.BLAMING, "refused to help"),
    ],
)
def test_wording_is_flagged_with_a_suggested_rewrite(text: str, kind: FindingKind, phrase: str) -> None:
    (finding,) = RULES.lint("problem", text)
    assert (finding.kind, finding.phrase) == (kind, phrase)
    zh, en = finding.message.render("zh-CN"), finding.message.render("en")
    assert phrase in zh and finding.suggestion.pick("zh-CN") in zh
    assert phrase in en and finding.suggestion.pick("en") in en and en != zh


def test_objective_wording_passes() -> None:
    assert RULES.lint("problem", "技术部提出硬件采购需走流程，周期约5天") == []
    assert RULES.lint("problem", "The hardware purchase goes through procurement, about 5 days") == []
    assert RULES.lint("problem", "blameless postmortem") == [], "latin phrases match whole words only"


@pytest.mark.parametrize(("text", "concrete"), [
    ("尽快解决", False), ("加强沟通", False), ("ASAP", False), ("fix it ASAP", False), ("解决", False),
    ("3月10日前完成数据同步脚本优化", True), ("上线监控告警", True), ("Ship the retry patch", True),
])  # fmt: skip
def test_a_deliverable_must_be_more_than_vague_words(text: str, concrete: bool) -> None:
    assert RULES.is_concrete(text) is concrete


def test_a_smart_item_passes_with_no_warnings() -> None:
    item = ActionItemInput("优化数据同步脚本", [7], NOW + timedelta(days=2), measure="延迟≤1.5小时")
    checked = check_action_item(item, now=NOW)
    assert checked.ok and checked.warnings == {}


def test_a_missing_measure_is_a_warning() -> None:
    checked = check_action_item(ActionItemInput("优化数据同步脚本", [7], NOW), now=NOW)
    assert checked.ok and list(checked.warnings) == ["measure"]
    assert "衡量标准" in checked.warnings["measure"].render()


def test_every_limit_is_enforced_and_named() -> None:
    checked = check_texts({"topic": "题" * 201, "problem_why": "因" * 1001, "notes": "ok"})
    assert set(checked.errors) == {"topic", "problem_why"}
    assert checked.errors["topic"].render() == "“沟通主题”最多 200 字，现在是 201 字。"
    assert checked.errors["problem_why"].render("en") == '"why" takes at most 1000 characters; it has 1001.'
    item = ActionItemInput("做" * 501, [1], NOW, measure="量" * 301, resources="资" * 501)
    assert {"description", "measure", "resources"} <= set(check_action_item(item, now=NOW).errors)


def test_the_lists_live_in_data() -> None:
    assert set(RULES.limits) >= {"topic", "problem", "description", "verification", "progress"}
    assert any("尽快" in rule.phrases for rule in RULES.rules)


def test_every_phrase_on_a_field_is_flagged_in_reading_order_each_once() -> None:
    from storage.rules import check_texts

    warning = check_texts({"problem": "技术部不配合，尽快处理，需求不合理，还是不配合"}).warnings["problem"].render()
    assert warning.index("“不配合”") < warning.index("“尽快”") < warning.index("“不合理”")
    assert warning.count("“不配合”") == 1


def test_a_verification_result_names_something_checkable() -> None:
    from storage.rules import check_verification

    assert check_verification("3月11日监控显示延迟≤1.5小时，投诉量下降15%") is None
    assert check_verification("投诉下降一成") is None
    assert check_verification("") is None, "empty is the caller's error, not a warning"
    vague = check_verification("尽快验证").render()
    assert "“尽快”不够具体" in vague and "没有可核对的事实" in vague
    assert check_verification("已经好了").render().startswith("没有可核对的事实")
