"""Contract and market (合同与市场): capacity at T and its change, voltage, tariff, market mode,
self-generation.

The archive (customers table) holds today's values. Capacity is taken back to T by undoing the
changes completed since. Self-generation is only known as of today, so it is marked
`point_in_time: false` in the catalogue and kept out of training.
"""

from __future__ import annotations

import numpy as np

from retention.features.grid import relative_change, safe_ratio, window_total
from retention.features.sources import Columns, Sources

SELF_GENERATION_HOURS_PER_YEAR = 1100.0  # typical full-load hours of distributed PV


def features(src: Sources) -> Columns:
    grid = src.grid
    capacity_t = src.capacity_at(grid.t_seconds)
    capacity_before = src.capacity_at(grid.seconds_before(months=24))
    yearly_kwh = (
        window_total(src.usage.window("kwh_total", 12), 6)
        * 12
        / np.maximum(np.sum(~np.isnan(src.usage.window("kwh_total", 12)), axis=1), 1)
    )
    self_generation = src.customer_column("self_generation_kw").astype(float)
    return {
        "contract_capacity_kva": capacity_t,
        "capacity_change_24m": relative_change(capacity_t, capacity_before),
        "voltage_kv": src.customer_column("voltage_kv").astype(float),
        "tariff_category": src.customer_category("tariff_category"),
        "market_mode": src.customer_category("market_mode"),
        "self_generation_ratio": safe_ratio(
            self_generation * SELF_GENERATION_HOURS_PER_YEAR, yearly_kwh
        ),
    }
