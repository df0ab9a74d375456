"""docs/data-contract.md is the product's own contract: it must say what contract.py does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retention.data import contract
from retention.data.contract import TABLES, ColumnSpec, TableSpec

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(table: str) -> tuple[str, str]:
    """The part ("Required tables" / "Optional tables") and the text of a table's section."""
    text = _text()
    heading = re.search(rf"^### {table} — .*$", text, flags=re.MULTILINE)
    assert heading, f"docs/data-contract.md has no section '### {table} — ...'"
    part = re.findall(r"^## (.+)$", text[: heading.start()], flags=re.MULTILINE)[-1]
    end = re.search(r"^##", text[heading.end() :], flags=re.MULTILINE)
    body = text[heading.end() : heading.end() + end.start()] if end else text[heading.end() :]
    return part, body


def _rows(body: str) -> dict[str, tuple[str, str]]:
    """column -> (type, rule) from the section's table ("a, b, c" rows name several)."""
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("column", "---"):
            continue
        for name in cells[0].split(", "):
            rows[name] = (cells[1], " | ".join(cells[2:]))
    return rows


def _shown(value: float) -> tuple[str, ...]:
    """How the document may write a bound: 5,000,000 or 1.116e10."""
    return (f"{value:,.0f}", f"{value:.4g}".replace("e+", "e"), f"{value:g}")


@pytest.mark.parametrize("spec", TABLES.values(), ids=list(TABLES))
def test_every_table_and_column_of_the_contract_is_documented(spec: TableSpec) -> None:
    part, body = _section(spec.name)
    assert part == ("Required tables" if spec.required else "Optional tables")
    rows = _rows(body)
    assert set(rows) == set(spec.column_names), spec.name
    key = re.search(r"^(Key: .*|No key\.)", body, flags=re.MULTILINE)
    assert key, spec.name
    expected = "No key." if not spec.key else "Key: " + ", ".join(f"`{k}`" for k in spec.key)
    assert key.group(1).split(". ")[0].rstrip(".") == expected.rstrip(".")
    for order in spec.time_orders:
        assert f"`{order.end}` {'>' if order.strict else '>='} `{order.start}`" in body
    for column in spec.columns:
        kind, rule = rows[column.name]
        _check_column(spec.name, column, kind, rule)


def _check_column(table: str, column: ColumnSpec, kind: str, rule: str) -> None:
    where = f"{table}.{column.name}"
    assert kind == column.kind, where
    assert ("nullable" in rule) == column.nullable, where
    assert ("optional column" in rule) == column.optional, where
    if column.values is not None and column.kind != "float":
        for value in column.values:
            assert f"`{value}`" in rule, f"{where}: {value}"
    if column.values is not None and column.kind == "float":
        assert all(f"{v:g}" in rule for v in column.values), where
    if column.at_most is not None:
        assert any(shown in rule for shown in _shown(column.at_most)), where
    if table != "customers" and column.name == "customer_id":
        assert "exists in customers" in rule


def test_the_time_range_is_the_contracts() -> None:
    expected = f"{contract.EARLIEST:%Y-%m-%d} and {contract.LATEST:%Y-%m-%d %H:%M:%S}"
    assert f"between **{expected}**" in _text()


def test_the_plausibility_constants_have_the_codes_values() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", _text(), flags=re.MULTILINE)
    documented = {name: float(value.split()[0].replace(",", "")) for name, value in rows}
    names = {
        "MAX_CAPACITY_KVA", "LONGEST_MONTH_HOURS", "CAPACITY_MARGIN",
        "ENERGY_PRICE_CAP_CNY_PER_KWH", "BASIC_CHARGE_CAP_CNY_PER_KVA", "PAYMENT_MONTHS_CAP",
        "MAX_MONTHLY_KWH", "MAX_DEMAND_KW", "MAX_BILL_CNY", "MAX_PAYMENT_CNY",
    }  # fmt: skip
    assert set(documented) == names
    for name, value in documented.items():
        assert value == pytest.approx(getattr(contract, name)), name


def test_every_rule_across_tables_is_documented() -> None:
    text = _text()
    section = text[text.index("**Against the account's capacity**") :]
    documented = {
        (table, column)
        for table, columns in re.findall(r"^\| (monthly_\w+) \| ([\w, ]+) \|", section, re.M)
        for column in columns.split(", ")
    }
    assert documented == {(r.table, r.column) for r in contract.CAPACITY_RULES}
