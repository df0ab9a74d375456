"""A dataset: a folder with one `NAME.parquet` or `NAME.csv` per table, and its loaded tables.

The typed tables follow `retention.data.contract`: ids, text and enums as pandas `str`; floats
as float64; satisfaction and document_requests as `Int64`; booleans as `boolean`; months,
dates and timestamps as naive local-time `datetime64[us]` (a month is its first day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from retention.data.contract import TABLE_NAMES, table_spec

FORMATS = ("parquet", "csv")  # the file formats of a table in a dataset folder


@dataclass(frozen=True, eq=False)
class Dataset:
    """The loaded, typed tables of one dataset; optional tables are None when absent."""

    customers: pd.DataFrame
    monthly_usage: pd.DataFrame
    monthly_billing: pd.DataFrame
    service_tickets: pd.DataFrame | None = None
    work_orders: pd.DataFrame | None = None
    outages: pd.DataFrame | None = None
    interventions: pd.DataFrame | None = None
    applications: pd.DataFrame | None = None
    application_steps: pd.DataFrame | None = None
    folder: Path | None = None

    def table(self, name: str) -> pd.DataFrame | None:
        """One table by its contract name (None when an optional table is absent)."""
        table_spec(name)  # KeyError for a name that is not a table
        frame: pd.DataFrame | None = getattr(self, name)
        return frame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, in contract order."""
        return {name: f for name in TABLE_NAMES if (f := self.table(name)) is not None}

    def only(self, customer_ids: Iterable[str]) -> Dataset:
        """The same dataset restricted to some accounts: every table's rows of them, their
        applications (not those without an account) and those applications' steps."""
        keep = set(customer_ids)
        kept = {
            name: frame[frame["customer_id"].isin(keep)].reset_index(drop=True)
            for name, frame in self.tables().items()
            if "customer_id" in frame
        }
        steps = self.application_steps
        if steps is not None:
            applications = kept.get("applications")
            ids = set() if applications is None else set(applications["application_id"])
            kept["application_steps"] = steps[steps["application_id"].isin(ids)].reset_index(
                drop=True
            )
        return Dataset(**kept, folder=self.folder)
