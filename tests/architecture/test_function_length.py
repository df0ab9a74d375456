"""No function in src/retention is longer than 80 lines: a longer one is several steps that
want names. Alembic migrations are exempt: a migration is a frozen record of a schema, read
top to bottom once and never changed after it ships."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "retention"
LONGEST = 80
EXEMPT = SOURCE / "store" / "migrations"


def _function_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path.is_relative_to(EXEMPT):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                where = f"{path.relative_to(SOURCE)}:{node.lineno} {node.name}"
                lengths[where] = (node.end_lineno or node.lineno) - node.lineno + 1
    return lengths


def test_no_function_is_longer_than_80_lines() -> None:
    lengths = _function_lengths()
    assert len(lengths) > 300  # the walk reaches the package (an empty walk would pass)
    assert {where: n for where, n in lengths.items() if n > LONGEST} == {}
