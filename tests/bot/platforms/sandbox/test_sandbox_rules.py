"""The sandbox is a platform like the others, and it stays on loopback unless forced."""

from __future__ import annotations

import pytest

from bot.platforms import enabled_packages, load_platforms
from bot.settings import ConfigError, load_settings

from .conftest import SandboxChat, posted_form


async def test_at_bot_text_works_like_a_slash_command(chat: SandboxChat) -> None:
    for text in ("@bot 新建记录 订单系统数据延迟", "@Closeloop /record new 订单系统数据延迟"):
        answer = await chat.say("lina", text)
        assert posted_form(answer)["header"]["title"] == "新建跨部门沟通记录"


async def test_people_are_mentioned_by_name_in_the_sandbox(chat: SandboxChat) -> None:
    answer = await chat.say("zhangwei", "/dept set 法务部 lead @陈静")
    assert "<@chenjing>" in answer["posted"][-1]["card"]["elements"][0]["text"]


def sandbox_on(**env: str) -> bool:
    settings = load_settings(_env_file=None, **{k: v for k, v in env.items() if k == "CLOSELOOP_HOST"})
    return "sandbox" in [p.name for p, _ in enabled_packages(settings, env_file=None, **env)]


def test_the_sandbox_is_on_only_without_platforms_or_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOSELOOP_SANDBOX", raising=False)
    feishu = {"FEISHU_APP_ID": "cli_a", "FEISHU_APP_SECRET": "s", "FEISHU_VERIFICATION_TOKEN": "t"}
    assert [p.name for p in load_platforms(load_settings(_env_file=None), env_file=None)] == ["sandbox"]
    assert not sandbox_on(**feishu)
    assert sandbox_on(CLOSELOOP_SANDBOX="1", **feishu)


def test_the_sandbox_refuses_a_public_address_unless_forced() -> None:
    with pytest.raises(ConfigError, match="only listens on loopback"):
        sandbox_on(CLOSELOOP_HOST="0.0.0.0")
    assert sandbox_on(CLOSELOOP_HOST="0.0.0.0", CLOSELOOP_SANDBOX_ALLOW_REMOTE="1")
    assert not sandbox_on(CLOSELOOP_HOST="0.0.0.0", CLOSELOOP_SANDBOX="0")
