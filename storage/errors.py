"""Domain errors: raised by lifecycle functions, turned into a chat message in one place.

Each carries a catalog key and parameters, so the same error reads in the group's
language (zh-CN by default, English on request).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.i18n import Catalog, Message

CATALOG = Catalog.load(Path(__file__).with_name("messages.toml"))


def message(key: str, **params: Any) -> Message:
    return Message(CATALOG, key, params)


class DomainError(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        self.msg = message(key, **params)
        super().__init__(self.msg.render("en"))

    @property
    def key(self) -> str:
        return self.msg.key

    def message(self, lang: str | None = None) -> str:
        return self.msg.render(lang)


class NotFound(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class InvalidTransition(DomainError):
    pass


class StaleVersion(DomainError):
    """The card or form was built from an older version of the record."""

    def __init__(self, *, ref: str, expected: int, current: int) -> None:
        super().__init__("record.stale", ref=ref, expected=expected, current=current)
        self.current = current


class ValidationFailed(DomainError):
    """Field-level errors (and warnings that did not block), keyed by field name."""

    def __init__(self, errors: dict[str, Message], warnings: dict[str, Message] | None = None) -> None:
        self.errors = errors
        self.warnings = warnings or {}
        first_field, first = next(iter(errors.items()))
        super().__init__("validation.failed", field=first_field, count=len(errors))
        self.first = first

    def message(self, lang: str | None = None) -> str:
        details = "；".join(error.render(lang) for error in self.errors.values())
        return f"{super().message(lang)} {details}"
