"""Logs as an operator's log shipper reads them: JSON lines on request, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import logs
from bot.platforms.feishu.settings import FeishuSettings
from bot.settings import load_settings

FEISHU = {"FEISHU_APP_ID": "cli_a1", "FEISHU_APP_SECRET": "s3cr3t-app", "FEISHU_VERIFICATION_TOKEN": "v-t0ken"}
CORE = {"CLOSELOOP_DATABASE_URL": "postgresql://bot:pa55word@db.internal/closeloop"}


def configure(stream: io.StringIO, **core: str) -> None:
    logs.configure(load_settings(_env_file=None, **CORE, **core), [FeishuSettings(_env_file=None, **FEISHU)], stream)


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_and_message_without_secrets(root_logging: None) -> None:
    stream = io.StringIO()
    configure(stream, CLOSELOOP_LOG_FORMAT="json")
    log = logging.getLogger("bot.platforms.feishu")
    log.warning("token refused: %s", "s3cr3t-app")
    try:
        raise ConnectionError("could not reach postgresql://bot:pa55word@db.internal/closeloop")
    except ConnectionError:
        log.exception("database away")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "bot.platforms.feishu" and "time" in first
    assert first["message"] == "token refused: ***"
    assert second["message"] == "database away" and "ConnectionError" in second["exc_info"]
    for secret in ("s3cr3t-app", "v-t0ken", "pa55word"):
        assert secret not in stream.getvalue()


def test_text_is_the_default_and_is_redacted_too(root_logging: None) -> None:
    stream = io.StringIO()
    configure(stream)
    logging.getLogger("bot.outbox").error("sent with v-t0ken")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("ERROR bot.outbox: sent with ***")


def test_an_unknown_log_format_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="CLOSELOOP_LOG_FORMAT"):
        load_settings(_env_file=None, CLOSELOOP_LOG_FORMAT="xml")
