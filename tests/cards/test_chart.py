"""The review chart is a real PNG whose Chinese text is drawn with glyphs, not empty boxes (tofu)."""

from __future__ import annotations

import io
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from PIL import Image

from cards.chart import font_path, review_chart
from storage.review import CategoryTrend, DepartmentLoad, Month, Review, Scope

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figures() -> Review:
    month = Month(2026, 3)
    return Review(
        month=month, scope=Scope("w", 1), months=[month.shift(n) for n in range(-5, 1)],
        categories=[CategoryTrend("resource_conflict", [0, 1, 0, 2, 1, 3]), CategoryTrend("process_bottleneck", [0, 0, 0, 0, 1, 2])],
        departments=[DepartmentLoad("技术部", due=4, on_time=3, late=1), DepartmentLoad("财务部", due=2, on_time=1, late=1)],
        escalations=Counter(),
    )  # fmt: skip


def label_pixels(text: str, font: Path) -> np.ndarray:
    """``text`` drawn alone in ``font``, as a greyscale pixel array."""
    figure = Figure(figsize=(3, 0.6), dpi=100)
    figure.text(0.02, 0.3, text, fontproperties=FontProperties(fname=str(font), size=20))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return np.asarray(Image.open(buffer).convert("L"), dtype=np.int16)


def test_the_chart_is_a_png_of_the_expected_size() -> None:
    content = review_chart(figures(), lang="zh-CN")
    assert content.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(content))
    image.verify()
    assert Image.open(io.BytesIO(content)).size == (1000, 420)
    assert len(content) > 10_000, "two panels of bars, labels and a legend"


def test_the_font_comes_from_the_projects_dependencies_and_has_chinese_glyphs() -> None:
    path = font_path()
    assert path.is_file() and path.parent.name == "pylopdf_fonts_zh_cn", "installed from PyPI, not a system font"
    assert not str(path).startswith("/usr/share/fonts")
    face = font_manager.get_font(str(path))
    assert all(face.get_char_index(ord(ch)) for ch in "资源冲突流程瓶颈技术部财务部复盘按时率")


def test_chinese_labels_are_drawn_as_glyphs_not_tofu() -> None:
    """Each character of a label alone, in Noto Sans SC and in DejaVu Sans (matplotlib's own font, no CJK).
    DejaVu draws the same box for every character (tofu); ours draws four different glyphs, unlike that box."""
    dejavu = Path(font_manager.findfont(FontProperties(family="DejaVu Sans"), fallback_to_default=False))
    assert dejavu.name.startswith("DejaVuSans")
    assert not font_manager.get_font(str(dejavu)).get_char_index(ord("资")), "DejaVu Sans has no CJK: it draws tofu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Glyph … missing from font(s) DejaVu Sans": the point of the comparison
        tofu = [label_pixels(ch, dejavu) for ch in "资源冲突"]
    ours = [label_pixels(ch, font_path()) for ch in "资源冲突"]
    assert all(np.array_equal(tofu[0], box) for box in tofu[1:]), "DejaVu: four identical boxes"
    assert len({glyph.tobytes() for glyph in ours}) == 4, "ours: four different characters"
    assert all((glyph < 128).sum() > 30 for glyph in ours), "each one inked"
    assert all(np.abs(glyph - tofu[0]).mean() > 1 for glyph in ours), "none of them is the box"
    whole = label_pixels("问题类型 资源冲突", font_path())
    assert (whole < 128).sum() > 4 * min((g < 128).sum() for g in ours)
