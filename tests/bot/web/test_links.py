"""Link settings and signatures: check-config refuses what cannot work; ages follow the injected clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import ConfigError, load_settings
from handlers.webforms import LinkKind, LinkRefused, LinkSigner, Refusal
from storage.timekeeping import ManualClock

KEY = "k" * 32
DINGTALK = {"DINGTALK_CLIENT_ID": "ding", "DINGTALK_CLIENT_SECRET": "s", "DINGTALK_ROBOT_CODE": "r"}
FEISHU = {"FEISHU_APP_ID": "cli_a", "FEISHU_APP_SECRET": "s", "FEISHU_VERIFICATION_TOKEN": "t"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")):
            monkeypatch.delenv(name)


def settings(**values: str):
    return load_settings(_env_file=None, **values)


def test_a_platform_that_needs_web_forms_needs_the_address_and_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: is not set, but DingTalk needs web forms"):
        settings(**DINGTALK)
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_SECRET_KEY: is not set, but CLOSELOOP_PUBLIC_URL is"):
        settings(**DINGTALK, CLOSELOOP_PUBLIC_URL="https://closeloop.example.com")
    ok = settings(**DINGTALK, CLOSELOOP_PUBLIC_URL="https://closeloop.example.com/", CLOSELOOP_SECRET_KEY=KEY)
    assert ok.links_base_url == "https://closeloop.example.com"


def test_links_are_off_without_both_and_bad_values_are_named() -> None:
    assert settings(**FEISHU).links_base_url is None, "no links are sent without an address"
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: is not set, but CLOSELOOP_SECRET_KEY is"):
        settings(**FEISHU, CLOSELOOP_SECRET_KEY=KEY)
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: must be https://"):
        settings(**FEISHU, CLOSELOOP_PUBLIC_URL="http://closeloop.example.com", CLOSELOOP_SECRET_KEY=KEY)
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: must be the https:// address"):
        settings(CLOSELOOP_PUBLIC_URL="closeloop.example.com")
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_SECRET_KEY: must be at least 32 characters"):
        settings(CLOSELOOP_SECRET_KEY="short")
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_FORM_LINK_MINUTES"):
        settings(CLOSELOOP_FORM_LINK_MINUTES="2")


def test_the_sandbox_links_to_itself() -> None:
    assert settings(CLOSELOOP_PORT="9090").links_base_url == "http://127.0.0.1:9090"
    assert settings(**FEISHU, CLOSELOOP_SANDBOX="1").links_base_url is None, "never 127.0.0.1 links to a real chat"


def test_signatures_age_by_the_injected_clock_and_cover_every_byte() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    signer = LinkSigner(KEY, clock)
    token = signer.sign(LinkKind.FORM, {"f": 1, "g": 2, "p": 3})
    clock.advance(timedelta(minutes=30))
    assert signer.read(LinkKind.FORM, token, max_age=1800) == {"f": 1, "g": 2, "p": 3}
    clock.advance(timedelta(seconds=1))
    with pytest.raises(LinkRefused) as expired:
        signer.read(LinkKind.FORM, token, max_age=1800)
    assert expired.value.reason is Refusal.EXPIRED
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for index in range(len(token)):
        for other in {alphabet[(alphabet.index(token[index]) + shift) % len(alphabet)] for shift in (1, 2, 3, 4)}:
            changed = token[:index] + other + token[index + 1 :]  # the neighbours differ in the lowest bits
            with pytest.raises(LinkRefused) as refused:
                signer.read(LinkKind.FORM, changed, max_age=None)
            assert refused.value.reason is Refusal.INVALID, (index, other)
    for other in (LinkKind.BOARD, LinkKind.PAGE):
        with pytest.raises(LinkRefused):
            signer.read(other, token, max_age=None)
    with pytest.raises(LinkRefused):
        LinkSigner("another-key-" + "x" * 32, clock).read(LinkKind.FORM, token, max_age=None)
