"""The contract's pandera value checks as plain pandas comparisons: which rows fail.

The contract declares its value rules as pandera's built-in checks (schema_of). Calling a
pandera Check costs about 0.5 ms whatever the rows: its backend builds a result frame, wraps
the output and looks up the check's statistics. An on-demand request validates some 35
checked columns of a few dozen rows, so that fixed cost was the largest part of its
validation. The built-in checks the contract uses are one comparison each; `failing_rows`
evaluates them from the check's own statistics, with pandera's semantics (a null passes when
the check ignores nulls), and gives any other check to pandera itself.
tests/data/test_value_checks.py holds the two to the same answers on every checked column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

Comparison = Callable[[np.ndarray, dict[str, Any]], np.ndarray]


def _in_range(values: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    low, high = s["min_value"], s["max_value"]
    above = values >= low if s["include_min"] else values > low
    below = values <= high if s["include_max"] else values < high
    return above & below


COMPARISONS: dict[str, Comparison] = {
    "greater_than": lambda values, s: values > s["min_value"],
    "greater_than_or_equal_to": lambda values, s: values >= s["min_value"],
    "less_than": lambda values, s: values < s["max_value"],
    "less_than_or_equal_to": lambda values, s: values <= s["max_value"],
    "in_range": _in_range,
    "isin": lambda values, s: np.isin(values, list(s["allowed_values"])),
    "notin": lambda values, s: ~np.isin(values, list(s["forbidden_values"])),
}
BOUNDS = ("min_value", "max_value")


def failing_rows(check: pa.Check, values: pd.Series, null: np.ndarray | None = None) -> np.ndarray:
    """Positions (0-based) of the rows of `values` that fail `check` (`null`: the values'
    null mask, when the caller has it)."""
    comparison = COMPARISONS.get(check.name or "")
    if comparison is None or not check.ignore_na or check.statistics is None:
        return _pandera_failing_rows(check, values)
    prepared = _comparable(values, check.statistics)
    if prepared is None:
        return _pandera_failing_rows(check, values)
    array, statistics = prepared
    if null is None:
        null = values.isna().to_numpy(dtype=bool)
    return np.flatnonzero(~(comparison(array, statistics) | null))


def _comparable(
    values: pd.Series, statistics: dict[str, Any]
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The values as a NumPy array and the bounds in its type; None: leave it to pandera."""
    dtype = values.dtype
    if dtype.kind in "fiu":  # float64, Int64 (nulls as NaN: they pass anyway)
        return values.to_numpy(dtype=float, na_value=np.nan), statistics
    if isinstance(dtype, np.dtype) and dtype.kind == "M":  # naive datetime64 (no zone)
        unit = dtype.name  # "datetime64[ns]", ...; the bounds in the same unit
        bounds = {
            k: pd.Timestamp(statistics[k]).to_datetime64().astype(unit)
            for k in BOUNDS
            if k in statistics
        }
        return values.to_numpy(dtype=unit), {**statistics, **bounds}
    if isinstance(dtype, pd.StringDtype) and set(statistics) <= {
        "allowed_values",
        "forbidden_values",
    }:
        return np.asarray(values.array.to_numpy(dtype=object, na_value=None)), statistics
    return None


def _pandera_failing_rows(check: pa.Check, values: pd.Series) -> np.ndarray:
    result = check(values)
    if bool(result.check_passed):
        return np.array([], dtype=np.int64)
    # The output is indexed by row (a RangeIndex); with ignore_na pandera leaves the empty
    # cells out of it.
    output = result.check_output
    failed = ~output.fillna(True).to_numpy(dtype=bool)
    return output.index.to_numpy(dtype=np.int64)[failed]
