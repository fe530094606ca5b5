"""The packages form layers without cycles, and platform knowledge stays in ``bot/platforms/<name>/``.

storage (tables, time, the outbox's enqueue) ← cards (neutral cards) ← handlers (events, routing)
← scheduler (follow-up jobs) ← bot (the runtime: settings, HTTP, workers, platforms).
A package may import only from the layers below it (and from itself).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["storage", "cards", "handlers", "scheduler", "bot"]
PLATFORM_WORDS = re.compile(r"feishu|lark|slack|dingtalk|wecom|weixin", re.I)


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found & set(LAYERS)


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = []
    for rank, package in enumerate(LAYERS):
        allowed = set(LAYERS[: rank + 1])
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in imported_packages(path) - allowed:
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert wrong == []


def test_the_core_names_no_platform() -> None:
    """Handlers, cards, the scheduler and storage speak of platforms only through the contract."""
    found = []
    for package in ("storage", "cards", "handlers", "scheduler"):
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix not in (".py", ".toml") or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if PLATFORM_WORDS.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
