"""One percent parser for the command and the form."""

from __future__ import annotations

import pytest

from cards.quantities import PercentError, read_percent


@pytest.mark.parametrize(("token", "value"), [
    ("60%", 60), ("60％", 60), ("（60%）", 60), ("(60 %)", 60), ("【60%】", 60), ("0%", 0), ("100%", 100),
    ("百分之六十", 60), ("百分之百", 100), ("60.0%", 60), ("投诉下降15%", None), ("60", None), ("abc", None),
])  # fmt: skip
def test_a_percent_token(token: str, value: int | None) -> None:
    assert read_percent(token) == value


@pytest.mark.parametrize(("token", "value"), [("60", 60), ("60.0", 60), ("（60）", 60), ("60%", 60)])
def test_a_form_field_may_hold_a_bare_number(token: str, value: int) -> None:
    assert read_percent(token, bare_number=True) == value


@pytest.mark.parametrize("token", ["150%", "-5%", "60.5%", "百分之十十", "101"])
def test_out_of_range_or_not_whole_is_an_error(token: str) -> None:
    with pytest.raises(PercentError):
        read_percent(token, bare_number=True)
