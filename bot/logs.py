"""Logging for ``closeloop``: one line per record, as text or as JSON (``CLOSELOOP_LOG_FORMAT``), never a secret.

JSON lines (python-json-logger) carry ``time``, ``level``, ``logger`` and
``message`` (plus ``exc_info`` with a traceback) for a log shipper. Whatever the
format, the values of the configured secrets (app secrets, tokens, keys, the
database password) are replaced by ``***`` in the finished line, so a library that
logs a URL or an exception with a credential in it cannot leak it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url

from bot.settings import Settings

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def secrets_of(settings: Settings, platforms: Iterable[Any] = ()) -> list[str]:
    """The values to keep out of the logs: the database password, the signing key, every platform's ``SECRETS``."""
    values = [make_url(settings.database_url).password, settings.secret_key]
    for own in platforms:
        values += [own.value_of(name) for name in type(own).SECRETS]
    return [str(v) for v in values if isinstance(v, str) and len(v) >= 4]  # a one-letter "secret" would blank out lines


class Redacting(logging.Formatter):
    """Wraps a formatter and blanks the secrets out of every line it makes."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return line


def configure(settings: Settings, platforms: Iterable[Any] = (), stream: IO[str] | None = None) -> None:
    """Send every log record to stderr (or ``stream``) in the configured format, at the configured level.

    ``platforms``: the enabled platforms' own settings, whose secrets are blanked out too."""
    if settings.log_format == "json":
        inner: logging.Formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}, json_ensure_ascii=False,
        )  # fmt: skip
    else:
        inner = logging.Formatter(TEXT)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(Redacting(inner, secrets_of(settings, platforms)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
