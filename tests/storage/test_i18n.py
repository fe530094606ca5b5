"""Every user-facing sentence exists in zh-CN and English, and renders with its parameters."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from storage.errors import CATALOG, DomainError
from storage.i18n import Catalog, normalize_language

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = sorted([*ROOT.glob("*/messages.toml"), *ROOT.glob("bot/platforms/*/messages.toml")])  # a platform's own


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parent.name)
def test_every_key_has_both_languages_with_the_same_parameters(path: Path) -> None:
    catalog = Catalog.load(path)
    assert catalog.missing_translations() == []
    for key, entry in catalog.entries.items():
        fields = [{name for _, name, _, _ in string.Formatter().parse(text) if name} for text in entry.values()]
        assert fields[0] == fields[1], key
        words = re.sub(r"\{[^}]*\}", "", entry["zh-CN"])
        assert re.search(r"[\u4e00-\u9fff]", words) or not re.search(r"[A-Za-z]", words), f"{key}: zh-CN is English"


def test_languages_are_normalised() -> None:
    assert [normalize_language(x) for x in ("zh", "zh_CN", None, "EN", "en-GB", "fr")] == [
        "zh-CN", "zh-CN", "zh-CN", "en", "en", "zh-CN",
    ]  # fmt: skip


def test_a_domain_error_reads_in_the_readers_language() -> None:
    error = DomainError("record.not_found", ref="R7")
    assert error.message() == "找不到记录 R7。" and error.message("en") == "Record R7 was not found."
    assert str(error) == "Record R7 was not found." and "record.not_found" in CATALOG.entries
