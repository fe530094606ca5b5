"""mypy over the packages, failing on errors that are not in the committed baseline.

    .venv/bin/python .ci/typecheck.py            # what CI runs (after ruff, before pytest)
    .venv/bin/python .ci/typecheck.py --update   # rewrite the baseline after fixing some of its errors

The baseline (.ci/mypy-baseline.txt) lists the errors the code had when the gate was
added, without line numbers (so editing a file does not move them); an error may
appear in it more than once. A new error anywhere fails the run; a fixed one only
asks for ``--update``, so the baseline can only shrink.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+)(?::\d+)?: error: (?P<message>.*)$")


def current() -> tuple[Counter[str], dict[str, list[str]]]:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 1):  # 2: mypy itself failed (bad config, a crash)
        sys.exit(f"mypy failed to run:\n{result.stdout}{result.stderr}")
    found: Counter[str] = Counter()
    where: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            key = f"{match['path']}: {match['message']}"
            found[key] += 1
            where.setdefault(key, []).append(line)
    return found, where


def main() -> int:
    found, where = current()
    if "--update" in sys.argv:
        BASELINE.write_text("".join(f"{key}\n" for key in sorted(found.elements())), "utf-8")
        print(f"typecheck: baseline rewritten with {sum(found.values())} errors")
        return 0
    known = Counter(BASELINE.read_text("utf-8").splitlines()) if BASELINE.exists() else Counter()
    new, fixed = found - known, known - found
    for key in sorted(new):
        print("\n".join(where[key][-new[key] :]))
    if fixed:
        print(
            f"typecheck: {sum(fixed.values())} baseline errors are fixed; run .ci/typecheck.py --update to keep it so"
        )
    if new:
        print(f"typecheck: {sum(new.values())} new mypy errors (baseline: {sum(known.values())})")
        return 1
    print(f"typecheck: no new mypy errors ({sum(found.values())} known in .ci/mypy-baseline.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
