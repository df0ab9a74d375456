"""Account profile (客户档案): tenure at T, industry, supplying unit, dedicated manager."""

from __future__ import annotations

import pandas as pd

from retention.features.grid import to_seconds
from retention.features.sources import Columns, Sources

SECONDS_PER_YEAR = 365.25 * 86_400


def features(src: Sources) -> Columns:
    opened = to_seconds(src.dataset.customers["open_date"])[src.grid.account]
    manager = pd.Series(src.customer_column("account_manager_id"))
    return {
        "tenure_years": (src.grid.t_seconds - opened) / SECONDS_PER_YEAR,
        "industry_code": src.customer_category("industry_code"),
        "region": src.customer_category("region"),
        "has_dedicated_manager": manager.notna().to_numpy().astype(float),
    }
