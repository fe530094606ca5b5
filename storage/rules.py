"""Content rules from the template's advice: concrete, objective, within limits.

The phrase lists and limits live in ``content_rules.toml``; this module only applies
them. Errors block a save (no owner, no deadline, a deadline in the past, nothing
concrete to deliver, text too long); findings about wording are warnings that the
cards show next to the field with a suggested objective rewrite.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from storage.errors import CATALOG, message
from storage.i18n import Joined, Localized, Message

RULES_FILE = Path(__file__).with_name("content_rules.toml")


class FindingKind(StrEnum):
    VAGUE = "vague"
    BLAMING = "blaming"


@dataclass(frozen=True)
class PhraseRule:
    kind: FindingKind
    phrases: tuple[str, ...]
    suggestion: Localized

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        alternatives = []
        for phrase in sorted(self.phrases, key=len, reverse=True):
            escaped = re.escape(phrase)
            alternatives.append(rf"\b{escaped}\b" if phrase.isascii() else escaped)
        return re.compile("|".join(alternatives), re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    field: str
    kind: FindingKind
    phrase: str
    suggestion: Localized

    @property
    def message(self) -> Message:
        return message(f"lint.{self.kind.value}", phrase=self.phrase, suggestion=self.suggestion)


@dataclass(frozen=True)
class ContentRules:
    limits: Mapping[str, int]
    rules: tuple[PhraseRule, ...]
    min_concrete_chars: int
    bare_verbs: frozenset[str]
    fact_pattern: str = r"[0-9]"

    @classmethod
    def load(cls, path: Path = RULES_FILE) -> ContentRules:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
        rules = tuple(
            PhraseRule(kind, tuple(entry["phrases"]), Localized(entry["suggestion"]))
            for kind in FindingKind
            for entry in raw.get(kind.value, [])
        )
        return cls(
            limits=dict(raw["limits"]),
            rules=rules,
            min_concrete_chars=int(raw["concrete"]["min_chars_besides_vague"]),
            bare_verbs=frozenset(v.lower() for v in raw["concrete"]["bare_verbs"]),
            fact_pattern=str(raw.get("verification", {}).get("fact_pattern", r"[0-9]")),
        )

    def lint(self, field: str, text: str | None) -> list[Finding]:
        """Every vague and blaming phrase in ``text`` (each once, in reading order), with its suggested rewrite."""
        if not text:
            return []
        found: dict[tuple[FindingKind, str], tuple[int, Finding]] = {}
        for rule in self.rules:
            for match in rule.pattern.finditer(text):
                finding = Finding(field, rule.kind, match.group(0), rule.suggestion)
                found.setdefault((rule.kind, match.group(0).lower()), (match.start(), finding))
        return [finding for _, finding in sorted(found.values(), key=lambda pair: pair[0])]

    def has_fact(self, text: str) -> bool:
        """A verification result names something checkable: a number, a date, a ratio, a comparison."""
        return re.search(self.fact_pattern, text) is not None

    def too_long(self, field: str, text: str | None, *, limit_name: str | None = None) -> Message | None:
        limit = self.limits[limit_name or field]
        if text is not None and len(text) > limit:
            return message("text.too_long", label=field_label(field), limit=limit, length=len(text))
        return None

    def is_concrete(self, text: str) -> bool:
        """False when nothing but vague phrases and punctuation is left (e.g. "尽快解决")."""
        remainder = text
        for rule in self.rules:
            if rule.kind is FindingKind.VAGUE:
                remainder = rule.pattern.sub("", remainder)
        meaningful = re.sub(r"[\W_]+", "", remainder).lower()
        if meaningful in self.bare_verbs:
            return False
        return len(meaningful) >= self.min_concrete_chars


RULES = ContentRules.load()


def field_label(field: str) -> Localized:
    key = f"field.{field}"
    return CATALOG.localized(key) if key in CATALOG.entries else Localized({"zh-CN": field, "en": field})


@dataclass(frozen=True)
class ActionItemInput:
    """What a form or command supplies for one action item, before it is checked."""

    description: str
    owner_ids: Sequence[int] | Sequence[str]  # people ids, or platform user ids before they are resolved
    due_at: datetime | None
    measure: str | None = None
    resources: str | None = None
    department_id: int | None = None
    term: str = "short"


@dataclass(frozen=True)
class Checked:
    errors: dict[str, Message]
    warnings: dict[str, Message]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_action_item(item: ActionItemInput, *, now: datetime, rules: ContentRules = RULES) -> Checked:
    """SMART: one owner, a deadline not in the past, a concrete measurable deliverable."""
    errors: dict[str, Message] = {}
    warnings: dict[str, Message] = {}
    description = item.description.strip()
    if not description:
        errors["description"] = message("item.description_required")
    elif not rules.is_concrete(description):
        errors["description"] = message("item.not_concrete", text=description)
    if len(item.owner_ids) == 0:
        errors["owner"] = message("item.owner_required")
    elif len(set(item.owner_ids)) > 1:
        errors["owner"] = message("item.one_owner", count=len(set(item.owner_ids)))
    if item.due_at is None:
        errors["due"] = message("item.due_required")
    elif item.due_at < now:
        errors["due"] = message("item.due_past")
    for field in ("description", "measure", "resources"):
        too_long = rules.too_long(field, getattr(item, field))
        if too_long:
            errors[field] = too_long
    for field in ("description", "measure"):
        if field not in errors:
            findings = rules.lint(field, getattr(item, field))
            if findings:
                warnings[field] = all_findings(findings)
    if not (item.measure or "").strip() and "measure" not in warnings:
        warnings["measure"] = message("item.measure_missing")
    return Checked(errors, warnings)


def check_texts(fields: Mapping[str, str | None], *, rules: ContentRules = RULES) -> Checked:
    """Length errors and wording warnings for a record's free-text fields."""
    errors: dict[str, Message] = {}
    warnings: dict[str, Message] = {}
    for field, text in fields.items():
        limit_name = "problem_part" if field.startswith("problem_") else field
        too_long = rules.too_long(field, text, limit_name=limit_name)
        if too_long:
            errors[field] = too_long
            continue
        findings = rules.lint(field, text)
        if findings:
            warnings[field] = all_findings(findings)
    return Checked(errors, warnings)


def all_findings(findings: Sequence[Finding]) -> Message:
    """Every finding on a field as one warning: all the phrases, not only the first."""
    if len(findings) == 1:
        return findings[0].message
    return message("lint.all", findings=Joined(tuple(f.message for f in findings), " "))


def check_verification(text: str | None, *, rules: ContentRules = RULES) -> Message | None:
    """A verification result that is vague or names no checkable fact ("尽快验证") gets a warning.

    Empty is not a warning but an error (the caller's ``require_text``).
    """
    text = (text or "").strip()
    if not text:
        return None
    parts = [f.message for f in rules.lint("verification", text)]
    if not rules.has_fact(text):
        parts.append(message("lint.no_fact"))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else message("lint.all", findings=Joined(tuple(parts), " "))
