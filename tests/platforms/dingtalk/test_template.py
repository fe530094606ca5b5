"""The committed card template is what the renderer fills and what the fake presses.

DingTalk cards show only the variables their template declares, and call back
with the params its components are configured with; a renderer and a template
that drift apart fail silently on a real tenant. So: the template is in the
export format the 卡片平台 imports (four keys, ``editorData`` a JSON string), it
declares every variable ``cardParamMap`` carries (and the private ``toast``), binds
the Form component to ``form`` with ``action``/``payload`` params, and every button
in the ``buttons`` loop calls back with its item's ``action`` and ``payload`` — the
shape ``inbound.card_callback`` reads and ``tests/platforms/dingtalk/fake.py`` sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.platforms.dingtalk import cards
from cards import forms, templates
from storage.models import Record

TEMPLATE = Path(cards.__file__).parent / "templates" / "closeloop-card.json"


def components(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(c for child in node.get("children", []) for c in components(child))]


def test_the_template_declares_what_the_renderer_fills_and_binds_the_callbacks() -> None:
    exported = json.loads(TEMPLATE.read_text("utf-8"))
    assert set(exported) == {"editorData", "widgetInfo", "type", "mode"} and exported["type"] == "im"
    editor = json.loads(exported["editorData"])
    declared = {v["name"]: v for v in editor["variableList"]}
    card = forms.progress_form(items=[("1", "R1-1 优化")], payload=templates.payload_of(Record(id=1, version=1)),
                               lang="zh-CN")  # fmt: skip
    (page,) = cards.render_pages(card, {})
    assert set(page["cardParamMap"]) == set(declared) - {"toast"}, "every variable filled is declared, and no more"
    assert declared["toast"]["private"] is True and declared["form"]["type"] == "form"
    assert declared["buttons"]["type"] == "loopArray"
    assert {f["name"] for f in declared["buttons"]["schema"]} == {"text", "style", "action", "payload", "url"}

    (root,) = editor["schema"]["componentsTree"]
    every = components(root)
    (form,) = [c for c in every if c["componentName"] == "Form"]
    assert form["props"]["formSchema"]["variable"] == "form"
    assert {(p["name"], p["variable"]) for p in form["props"]["params"]} == {
        ("action", "form_action"),
        ("payload", "form_payload"),
    }
    (loop,) = [c for c in every if c["componentName"] == "Loop"]
    assert loop["props"]["listData"]["variable"] == "buttons"
    request = [c for c in loop["children"] if c["props"].get("actionType") == "request"]
    assert [{(p["name"], p["variable"]) for p in b["props"]["params"]} for b in request] == [
        {("action", "buttons[0].action"), ("payload", "buttons[0].payload")}
    ]
    bound = {c["props"]["content"]["variable"] for c in every if c["componentName"] == "Markdown"}
    assert bound == {"markdown", "toast"}
