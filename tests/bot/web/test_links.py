"""Link settings and signatures: check-config refuses what cannot work; ages follow the injected clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.settings import ConfigError, load_settings
from bot.web import links_base, links_for
from handlers.capabilities import Capabilities, FormStyle
from handlers.webforms import LinkKind, LinkRefused, LinkSigner, Refusal
from storage.timekeeping import ManualClock

KEY = "k" * 32
CLOCK = ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")):
            monkeypatch.delenv(name)


def settings(**values: str):
    return load_settings(_env_file=None, **values)


def test_a_platform_whose_forms_open_only_as_web_pages_needs_the_address_and_the_key() -> None:
    web_only = SimpleNamespace(name="chat", capabilities=Capabilities(forms=FormStyle.WEB))
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: is not set, but chat needs web forms"):
        links_for(settings(), CLOCK, [web_only])
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_SECRET_KEY: is not set, but CLOSELOOP_PUBLIC_URL is"):
        settings(CLOSELOOP_PUBLIC_URL="https://closeloop.example.com")
    ok = links_for(settings(CLOSELOOP_PUBLIC_URL="https://closeloop.example.com/", CLOSELOOP_SECRET_KEY=KEY), CLOCK,
                   [web_only])  # fmt: skip
    assert ok is not None and ok.base_url == "https://closeloop.example.com"


def test_links_are_off_without_an_address_and_bad_values_are_named() -> None:
    card_platform = SimpleNamespace(name="chat", capabilities=Capabilities(forms=FormStyle.CARD))
    assert links_for(settings(), CLOCK, [card_platform]) is None, "no links are sent without an address"
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: is not set, but CLOSELOOP_SECRET_KEY is"):
        links_base(settings(CLOSELOOP_SECRET_KEY=KEY), ["chat"])
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: must be https://"):
        settings(CLOSELOOP_PUBLIC_URL="http://closeloop.example.com", CLOSELOOP_SECRET_KEY=KEY)
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_PUBLIC_URL: must be the https:// address"):
        settings(CLOSELOOP_PUBLIC_URL="closeloop.example.com")
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_SECRET_KEY: must be at least 32 characters") as short:
        settings(CLOSELOOP_SECRET_KEY="short-and-secret")
    assert "short-and-secret" not in str(short.value), "a secret is never echoed"
    with pytest.raises(ConfigError, match=r"^CLOSELOOP_FORM_LINK_MINUTES"):
        settings(CLOSELOOP_FORM_LINK_MINUTES="2")


def test_the_lone_sandbox_links_to_itself() -> None:
    assert links_base(settings(CLOSELOOP_PORT="9090"), ["sandbox"]) == "http://127.0.0.1:9090"
    assert links_base(settings(), ["sandbox", "slack"]) is None, "never 127.0.0.1 links into a real chat"


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
