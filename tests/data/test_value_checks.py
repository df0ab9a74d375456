"""The contract's value checks evaluated as plain comparisons answer exactly as pandera does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from retention.data.checks import validate_tables
from retention.data.contract import TABLE_NAMES, schema_of
from retention.data.simulator import SimulationResult
from retention.data.value_checks import COMPARISONS, _pandera_failing_rows, failing_rows


def _edges(check: pa.Check, values: pd.Series) -> list[object]:
    """Values on, just inside and just outside each bound, and the allowed values' neighbours."""
    statistics = check.statistics or {}
    edges: list[object] = []
    for key in ("min_value", "max_value"):
        if key not in statistics:
            continue
        bound = statistics[key]
        if isinstance(bound, pd.Timestamp):
            edges += [bound, bound - pd.Timedelta(seconds=1), bound + pd.Timedelta(seconds=1)]
        else:
            edges += [bound, bound - 1, bound + 1, bound - 1e-6, bound + 1e-6]
    for key in ("allowed_values", "forbidden_values"):
        allowed = list(statistics.get(key, []))
        edges += allowed
        if allowed and isinstance(allowed[0], str):
            edges += [f"{allowed[0]} ", allowed[0].upper() + "x", ""]
        elif allowed:
            edges += [max(allowed) + 1, min(allowed) - 0.5]
    return edges


def _checked_columns() -> list[tuple[str, str, pa.Check]]:
    return [
        (table, name, check)
        for table in TABLE_NAMES
        for name, column in schema_of(table).columns.items()
        for check in column.checks
    ]


@pytest.fixture(scope="module")
def typed_tables(simulation: SimulationResult) -> dict[str, pd.DataFrame]:
    report = validate_tables(simulation.tables)
    assert report.ok and report.dataset is not None
    return {k: v for k, v in report.dataset.tables().items() if v is not None}


def test_every_check_of_the_contract_is_evaluated_without_pandera() -> None:
    """Given the contract's checks, then each is one of the comparisons (none left to the slow
    path unnoticed: a new kind of check gets its comparison or a reason here)."""
    names = {check.name for _, _, check in _checked_columns()}
    assert names and names <= set(COMPARISONS)


@pytest.mark.parametrize(("table", "column", "check"), _checked_columns(), ids=str)
def test_comparisons_fail_the_same_rows_as_pandera(
    typed_tables: dict[str, pd.DataFrame], table: str, column: str, check: pa.Check
) -> None:
    """Given simulated values of the column plus values on and around the rule's bounds and
    empty cells, when both evaluate the check, then they fail exactly the same rows."""
    dtype = schema_of(table).columns[column].dtype.type
    present = table in typed_tables and column in typed_tables[table]  # optional: may be absent
    simulated = typed_tables[table][column] if present else pd.Series([], dtype=dtype)
    edges = pd.Series([*_edges(check, simulated), None, np.nan], dtype=object)
    try:
        edges = edges.astype(dtype)
    except (TypeError, ValueError):  # e.g. a fractional edge of an integer column
        edges = edges[edges.map(lambda v: v is None or float(v).is_integer())].astype(dtype)
    values = pd.concat([simulated.head(500), edges], ignore_index=True)
    assert values.dtype == dtype

    fast, slow = failing_rows(check, values), _pandera_failing_rows(check, values)

    np.testing.assert_array_equal(fast, slow)
    if check.statistics and any(k in check.statistics for k in ("min_value", "max_value")):
        assert len(slow), "the edges include values outside the bound: the test would be blind"
