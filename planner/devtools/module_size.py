"""``make lint``: no Python module outside migrations over ``LIMIT`` lines (one module, one job).

Usage: ``python -m planner.devtools.module_size [ROOT ...]`` (default: planner pricing api tests).
Prints every module over the limit and exits 1 if there is one. Standalone: imports nothing of
the project, so it runs without Django settings.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

LIMIT = 600
DEFAULT_ROOTS = ("planner", "pricing", "api", "tests")


def oversized(roots: Iterable[Path], limit: int = LIMIT) -> list[tuple[Path, int]]:
    """The ``.py`` files under ``roots`` (migrations excepted) with more than ``limit`` lines."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > limit:
                found.append((path, lines))
    return found


def main(argv: list[str]) -> int:
    roots = [Path(arg) for arg in argv] or [Path(name) for name in DEFAULT_ROOTS]
    found = oversized(roots)
    for path, lines in found:
        print(f"{path}: {lines} lines (limit {LIMIT}): split it by what it owns")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
