"""What an applicant would bring: the expected yearly revenue of its requested capacity.

Revenue at stake = requested capacity (kVA) x the typical load factor of its industry x
8,760 hours x an average price. The load factors are typical shares of capacity drawn on
average, by GB/T 4754 section (the industry code's letter); a plant's own figure is not known
before it is connected. Defaults, to be replaced with the company's own statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HOURS_PER_YEAR = 8760
AVERAGE_PRICE_CNY_PER_KWH = 0.65
# Typical average load as a share of contract capacity, by GB/T 4754 section.
TYPICAL_LOAD_FACTOR: dict[str, float] = {
    "B": 0.45,  # mining
    "C": 0.40,  # manufacturing
    "D": 0.45,  # electricity, gas and water
    "E": 0.20,  # construction
    "F": 0.20,  # wholesale and retail
    "G": 0.25,  # transport and storage
    "H": 0.20,  # hotels and catering
    "I": 0.55,  # information services, data centres
    "Q": 0.30,  # health (hospitals)
}
OTHER_LOAD_FACTOR = 0.25


def expected_revenue_cny(applications: pd.DataFrame) -> np.ndarray:
    """The yearly revenue each application's requested capacity would bring (CNY)."""
    section = applications["industry_code"].astype("str").str[:1].str.upper()
    load = section.map(TYPICAL_LOAD_FACTOR).fillna(OTHER_LOAD_FACTOR).to_numpy(dtype=float)
    capacity = applications["requested_capacity_kva"].to_numpy(dtype=float)
    return capacity * load * HOURS_PER_YEAR * AVERAGE_PRICE_CNY_PER_KWH
