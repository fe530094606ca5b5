"""The command line as an operator meets it: config errors in one line, migrate, serve, --help."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import platforms
from bot.app import new_event_loop
from bot.platforms import enabled_packages, load_platforms
from bot.settings import ConfigError, load_settings
from storage.migrate import head_revision


def clean_env(**extra: str) -> dict[str, str]:
    prefixes = ("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def closeloop(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CLOSELOOP_PORT": "eighty"}, "CLOSELOOP_PORT: Input should be a valid integer"),
        ({"CLOSELOOP_PORT": "70000"}, "CLOSELOOP_PORT: Input should be less than or equal to 65535"),
        ({"CLOSELOOP_TIMEZONE": "Asia/Beijing"}, "CLOSELOOP_TIMEZONE: unknown time zone 'Asia/Beijing'"),
        ({"CLOSELOOP_LANGUAGE": "fr"}, "CLOSELOOP_LANGUAGE: must be zh-CN or en"),
        ({"CLOSELOOP_HOLIDAY_COUNTRY": "XX"}, "CLOSELOOP_HOLIDAY_COUNTRY: no holiday calendar for country code 'XX'"),
        ({"CLOSELOOP_DATABASE_URL": "mysql://x"}, "CLOSELOOP_DATABASE_URL: must start with sqlite:/// or postgresql://"),
        ({"FEISHU_APP_ID": "cli_a1"}, "FEISHU_APP_SECRET: is not set, but FEISHU_APP_ID is"),
        ({"FEISHU_ENCRYPT_KEY": "k"}, "FEISHU_ENCRYPT_KEY: is set, but Feishu / Lark is not configured"),
        ({"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN: must be a bot token"),
        ({"DINGTALK_CLIENT_ID": "ding1"}, "DINGTALK_CLIENT_SECRET: is not set, but DINGTALK_CLIENT_ID is"),
        ({"DINGTALK_CLIENT_ID": "ding1", "DINGTALK_CLIENT_SECRET": "s3cr3t-value", "DINGTALK_CARD_TEMPLATE_ID": "t1"},
         "DINGTALK_CARD_TEMPLATE_ID: must be the card template's id from the 卡片平台, ending in .schema"),
        ({"DINGTALK_CLIENT_ID": "ding1", "DINGTALK_CLIENT_SECRET": "s3cr3t-value",
          "DINGTALK_CARD_TEMPLATE_ID": "t1.schema", "DINGTALK_MODE": "webhook"}, "DINGTALK_MODE: Input should be 'stream' or 'http'"),
        ({"DINGTALK_ROBOT_CODE": "ding1"}, "DINGTALK_ROBOT_CODE: is set, but DingTalk is not configured"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xoxp-secret-value"},
         "SLACK_APP_TOKEN: must be an app-level token starting with xapp-"),
        ({"SLACK_API_BASE": "ftp://x"}, "SLACK_API_BASE: must be an http(s) URL"),
        ({"WECOM_BOT_ID": "aib-1"}, "WECOM_BOT_SECRET: is not set, but WECOM_BOT_ID is"),
        ({"WECOM_TOKEN": "token-secret-value"}, "WECOM_ENCODING_AES_KEY: is not set, but WECOM_TOKEN is"),
        ({"WECOM_TOKEN": "t", "WECOM_ENCODING_AES_KEY": "short-secret-value"},
         "WECOM_ENCODING_AES_KEY: must be the 43-character EncodingAESKey"),
        ({"WECOM_CORP_ID": "ww1"}, "WECOM_CORP_ID: is set, but WeCom is not configured"),
        ({"WECOM_BOT_ID": "aib-1", "WECOM_BOT_SECRET": "s", "WECOM_CORP_ID": "ww1"},
         "WECOM_APP_AGENT_ID: is not set, but WECOM_CORP_ID is"),
        ({"WECOM_BOT_ID": "aib-1", "WECOM_BOT_SECRET": "s", "WECOM_WS_URL": "https://x"},
         "WECOM_WS_URL: must be a WebSocket URL"),
    ],
)  # fmt: skip
def test_a_bad_configuration_stops_with_one_line_and_status_2(tmp_path: Path, env: dict, expected: str) -> None:
    result = closeloop("check-config", cwd=tmp_path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("closeloop: configuration error: ") and expected in lines[0]
    for name, value in env.items():
        if any(word in name for word in ("SECRET", "TOKEN", "KEY")) and len(value) > 3:
            assert value not in result.stderr, f"{name}'s value was echoed"


def test_the_same_check_stops_serve_and_migrate(tmp_path: Path) -> None:
    for command in ("serve", "migrate"):
        result = closeloop(command, cwd=tmp_path, CLOSELOOP_PORT="x")
        assert result.returncode == 2 and "CLOSELOOP_PORT" in result.stderr and not (tmp_path / "closeloop.db").exists()


def test_settings_come_from_a_dotenv_file_and_empty_values_count_as_unset(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CLOSELOOP_PORT=9191\nCLOSELOOP_LANGUAGE=en-US\nFEISHU_APP_ID=\n", encoding="utf-8")
    result = closeloop("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:9191" in result.stdout and "language: en" in result.stdout
    assert "none (local sandbox)" in result.stdout


def test_a_whole_platform_is_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")):
            monkeypatch.delenv(key)
    feishu = {"FEISHU_APP_ID": "cli_a", "FEISHU_APP_SECRET": "s", "FEISHU_VERIFICATION_TOKEN": "t"}
    enabled = enabled_packages(load_settings(_env_file=None), env_file=None, **feishu)
    assert [(package.name, own.feishu_api_base) for package, own in enabled] == [("feishu", "https://open.feishu.cn")]
    with pytest.raises(ConfigError, match=r"^SLACK_SIGNING_SECRET: is not set"):
        enabled_packages(load_settings(_env_file=None), env_file=None, SLACK_BOT_TOKEN="xoxb-1")
    wecom = enabled_packages(load_settings(_env_file=None), env_file=None, WECOM_BOT_ID="aib-1", WECOM_BOT_SECRET="s")
    assert [(package.name, own.long_connection, own.callback) for package, own in wecom] == [("wecom", True, False)]


def test_dingtalk_is_enabled_by_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")):
            monkeypatch.delenv(key)
    dingtalk = {"DINGTALK_CLIENT_ID": "dingabc", "DINGTALK_CLIENT_SECRET": "s", "DINGTALK_CARD_TEMPLATE_ID": "t.schema"}
    core = load_settings(
        _env_file=None, CLOSELOOP_PUBLIC_URL="https://closeloop.example.com", CLOSELOOP_SECRET_KEY="k" * 32
    )
    ((package, own),) = enabled_packages(core, env_file=None, **dingtalk)
    assert (package.name, own.dingtalk_mode, own.robot_code) == ("dingtalk", "stream", "dingabc")
    assert own.dingtalk_api_base == own.dingtalk_stream_base == "https://api.dingtalk.com"
    (platform,) = load_platforms(core, env_file=None, **dingtalk, DINGTALK_MODE="http", DINGTALK_ROBOT_CODE="dingrobot")
    assert platform.name == "dingtalk" and platform.settings.robot_code == "dingrobot"


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_dingtalk_without_a_public_address_for_its_web_forms_stops(tmp_path: Path, command: str) -> None:
    dingtalk = {"DINGTALK_CLIENT_ID": "ding1", "DINGTALK_CLIENT_SECRET": "s3cr3t-value",
                "DINGTALK_CARD_TEMPLATE_ID": "t1.schema"}  # fmt: skip
    result = closeloop(command, cwd=tmp_path, **dingtalk)
    assert result.returncode == 2 and "CLOSELOOP_PUBLIC_URL: is not set, but dingtalk needs web forms" in result.stderr
    assert "s3cr3t-value" not in result.stderr


def test_credentials_of_a_platform_without_an_adapter_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every platform so far has its adapter (WeCom was the last one planned); the refusal stays for the next."""
    monkeypatch.setattr(platforms, "PLANNED", {"teams": "Microsoft Teams"})
    with pytest.raises(ConfigError, match=r"^TEAMS_APP_ID: Microsoft Teams is not supported by this version"):
        enabled_packages(load_settings(_env_file=None), env_file=None, TEAMS_APP_ID="t1")


WECOM = {"WECOM_BOT_ID": "aib-closeloop", "WECOM_BOT_SECRET": "bot-secret-value"}


def test_wecom_is_configured_by_the_robots_credentials_and_needs_web_forms(tmp_path: Path) -> None:
    """Either mode's pair switches it on; its forms are web pages, so serving needs the public address and key."""
    result = closeloop("check-config", cwd=tmp_path, **WECOM, CLOSELOOP_PUBLIC_URL="https://closeloop.example.com",
                       CLOSELOOP_SECRET_KEY="k" * 40)  # fmt: skip
    assert result.returncode == 0 and "platforms: wecom" in result.stdout, result.stderr
    callback = {"WECOM_TOKEN": "token-value", "WECOM_ENCODING_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"}
    for command in ("check-config", "serve"):
        result = closeloop(command, cwd=tmp_path, **callback)
        assert result.returncode == 2 and "CLOSELOOP_SECRET_KEY: is not set, but WeCom needs it" in result.stderr
        assert "token-value" not in result.stderr
    result = closeloop("check-config", cwd=tmp_path, **WECOM, CLOSELOOP_SECRET_KEY="k" * 40)
    assert result.returncode == 2 and "CLOSELOOP_PUBLIC_URL: is not set, but wecom needs web forms" in result.stderr


def test_migrate_creates_the_database_in_the_working_directory(tmp_path: Path) -> None:
    result = closeloop("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"database at revision {head_revision()}" in result.stdout
    tables = sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'closeloop.db'}")).get_table_names()
    assert {"records", "action_items", "outbox", "audit_trail"} <= set(tables)


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["check-config"]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = closeloop(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage: closeloop" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("uvloop", "loop"), [("1", "uvloop"), ("0", "asyncio")])
def test_serve_migrates_and_answers_health_checks(tmp_path: Path, uvloop: str, loop: str) -> None:
    """On uvloop by default, on asyncio's own loop with CLOSELOOP_UVLOOP=0: the same bot on either."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=tmp_path, env=clean_env(CLOSELOOP_UVLOOP=uvloop), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        body = None
        deadline = time.monotonic() + 30  # waiting for a child process to bind, not for test time
        while body is None and time.monotonic() < deadline and process.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            except OSError:
                time.sleep(0.1)
        assert body is not None, process.stderr.read() if process.poll() is not None else "no answer"
        assert b'"status": "ok"' in body and b'"database": "ok"' in body
        assert (tmp_path / "closeloop.db").exists()
        assert process.stdout is not None and f"event loop: {loop})" in process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_jobs_can_be_listed_and_run_as_of_an_instant(tmp_path: Path) -> None:
    assert closeloop("migrate", cwd=tmp_path).returncode == 0
    listed = closeloop("jobs", "list", cwd=tmp_path)
    assert listed.returncode == 0 and {"daily_prompt", "deadline_warning", "overdue_ladder"} <= {
        line.split()[0] for line in listed.stdout.splitlines()}  # fmt: skip
    ran = closeloop("jobs", "run", "all", "--now", "2026-11-27T17:30+08:00", cwd=tmp_path)
    assert ran.returncode == 0 and "daily_prompt             queued 0" in ran.stdout
    assert closeloop("jobs", "run", "nope", cwd=tmp_path).returncode == 2
    naive = closeloop("jobs", "run", "all", "--now", "2026-11-27T17:30", cwd=tmp_path)
    assert naive.returncode == 2 and "give the offset" in naive.stderr


async def test_the_suite_runs_on_the_loop_serve_runs() -> None:
    """tests/conftest.py hands pytest-asyncio ``bot.app.new_event_loop``: what passes here passes on uvloop."""
    settings = load_settings(_env_file=None)
    serves_on = new_event_loop(settings)
    serves_on.close()
    assert type(asyncio.get_running_loop()) is type(serves_on)
    assert not settings.uvloop or type(serves_on).__module__.startswith("uvloop"), "installed with the bot"
