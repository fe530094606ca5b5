"""Message catalogs: every user-facing sentence in zh-CN (the default) and English.

Each package keeps its sentences in a ``messages.toml`` beside its code, one table
per key with a ``zh-CN`` and an ``en`` entry, and formats them with ``str.format``
parameters. A missing translation is a test failure (see tests/storage/test_i18n.py),
not a runtime surprise.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


def normalize_language(lang: str | None) -> str:
    """Map what platforms and users send (zh, zh_CN, en-US, EN …) to a supported language."""
    if not lang:
        return DEFAULT_LANGUAGE
    lowered = lang.replace("_", "-").lower()
    if lowered.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Catalog:
    path: Path
    entries: dict[str, dict[str, str]]

    @classmethod
    def load(cls, path: Path) -> Catalog:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
        return cls(path=path, entries={key: dict(value) for key, value in raw.items()})

    def entry(self, key: str, lang: str | None = None, /) -> str:
        """The sentence's template in ``lang`` (the default language when it lacks one)."""
        entry = self.entries[key]
        return entry.get(normalize_language(lang)) or entry[DEFAULT_LANGUAGE]

    def text(self, key: str, lang: str | None = None, /, **params: Any) -> str:
        return self.entry(key, lang).format(**params)

    def localized(self, key: str) -> Localized:
        return Localized(self.entries[key])

    def missing_translations(self) -> list[str]:
        return [f"{key}:{lang}" for key, entry in self.entries.items() for lang in LANGUAGES if lang not in entry]


class Localized(dict[str, str]):
    """A parameter that is itself translated (a field label, a suggestion): picked per reader."""

    def pick(self, lang: str | None) -> str:
        return self.get(normalize_language(lang)) or self[DEFAULT_LANGUAGE]


@dataclass(frozen=True)
class Message:
    """A sentence not yet put into a language: key + parameters, rendered per reader."""

    catalog: Catalog = field(repr=False, compare=False)
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, lang: str | None = None) -> str:
        params = {k: _render_param(v, lang) for k, v in self.params.items()}
        return self.catalog.text(self.key, lang, **params)


@dataclass(frozen=True)
class Joined:
    """Several parameters shown as one (field labels, findings), each put into the reader's language."""

    parts: tuple[Any, ...]
    separator: str = "、"

    def render(self, lang: str | None = None) -> str:
        return self.separator.join(str(_render_param(part, lang)) for part in self.parts)


def _render_param(value: Any, lang: str | None) -> Any:
    if isinstance(value, Localized):
        return value.pick(lang)
    if isinstance(value, Message | Joined):
        return value.render(lang)
    return value
