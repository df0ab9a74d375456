"""The world the simulator draws from: industries, supplying units, tariffs and the calendar.

Numbers are chosen to look like a coastal Chinese province's key-account portfolio; they are
plausible, not official. Everything here is plain data so a reader can see the assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Hidden churn drivers: why an account drifts away. Each shapes which lead signals show up.
DRIVERS = ("decline", "self_generation", "service", "price")


@dataclass(frozen=True)
class Industry:
    """One GB/T 4754-2017 division as the simulator sees it."""

    code: str
    name_zh: str
    name_en: str
    weight: float  # share of key accounts
    median_kva: float  # median contract capacity
    utilisation: float  # average load as a share of capacity
    seasonality: tuple[float, ...]  # 12 monthly multipliers, January first
    festival_dip: float  # share of a month's load lost in the Spring Festival fortnight
    hazard: float  # multiplier of the base drift-into-trouble hazard
    drivers: tuple[float, float, float, float]  # weights of DRIVERS
    cycle_amplitude: float  # business cycle, share of load
    cycle_period: float  # months
    peak_flat_valley: tuple[float, float, float]
    winter_stop: float  # monthly probability of a temporary suspension in Dec-Feb (错峰生产)
    captive: float  # share whose self-generation is a captive plant rather than PV
    industrial: bool
    name_suffix: str  # 户名 suffix


_FLAT = (1.0,) * 12
INDUSTRIES: tuple[Industry, ...] = (
    Industry(
        "C31",
        "黑色金属冶炼和压延加工业",
        "steel",
        6,
        25000,
        0.62,
        _FLAT,
        0.03,
        1.2,
        (0.50, 0.15, 0.10, 0.25),
        0.08,
        40,
        (0.30, 0.33, 0.37),
        0.004,
        0.5,
        True,
        "钢铁有限公司",
    ),
    Industry(
        "C30",
        "非金属矿物制品业",
        "cement and glass",
        7,
        8000,
        0.52,
        (0.72, 0.68, 1.02, 1.08, 1.10, 0.95, 0.90, 1.00, 1.08, 1.12, 1.10, 0.92),
        0.20,
        1.3,
        (0.50, 0.10, 0.10, 0.30),
        0.10,
        36,
        (0.28, 0.34, 0.38),
        0.05,
        0.3,
        True,
        "建材有限公司",
    ),
    Industry(
        "C26",
        "化学原料和化学制品制造业",
        "chemicals",
        8,
        6300,
        0.60,
        _FLAT,
        0.05,
        1.0,
        (0.35, 0.20, 0.15, 0.30),
        0.06,
        44,
        (0.31, 0.33, 0.36),
        0.003,
        0.4,
        True,
        "化工有限公司",
    ),
    Industry(
        "C32",
        "有色金属冶炼和压延加工业",
        "non-ferrous metals",
        4,
        20000,
        0.70,
        _FLAT,
        0.03,
        1.1,
        (0.35, 0.10, 0.10, 0.45),
        0.07,
        38,
        (0.30, 0.33, 0.37),
        0.003,
        0.5,
        True,
        "有色金属有限公司",
    ),
    Industry(
        "C17",
        "纺织业",
        "textiles",
        9,
        2500,
        0.50,
        (0.85, 0.75, 1.05, 1.05, 1.05, 1.02, 1.00, 1.00, 1.05, 1.05, 1.05, 1.08),
        0.35,
        1.4,
        (0.55, 0.20, 0.05, 0.20),
        0.07,
        30,
        (0.36, 0.36, 0.28),
        0.003,
        0.05,
        True,
        "纺织有限公司",
    ),
    Industry(
        "C39",
        "计算机、通信和其他电子设备制造业",
        "electronics",
        8,
        5000,
        0.55,
        (0.92, 0.82, 1.00, 1.00, 1.02, 1.06, 1.10, 1.10, 1.04, 1.00, 1.00, 0.96),
        0.25,
        0.9,
        (0.30, 0.30, 0.30, 0.10),
        0.08,
        28,
        (0.38, 0.38, 0.24),
        0.002,
        0.05,
        True,
        "电子科技有限公司",
    ),
    Industry(
        "C36",
        "汽车制造业",
        "automotive",
        5,
        8000,
        0.45,
        (0.95, 0.80, 1.02, 1.00, 1.00, 1.02, 0.98, 0.98, 1.02, 1.04, 1.08, 1.10),
        0.30,
        0.9,
        (0.45, 0.25, 0.15, 0.15),
        0.09,
        34,
        (0.38, 0.38, 0.24),
        0.002,
        0.05,
        True,
        "汽车零部件有限公司",
    ),
    Industry(
        "C13",
        "农副食品加工业",
        "food processing",
        5,
        1600,
        0.45,
        (1.05, 0.85, 0.90, 0.92, 0.95, 0.98, 1.00, 1.05, 1.10, 1.12, 1.08, 1.02),
        0.20,
        1.1,
        (0.45, 0.20, 0.15, 0.20),
        0.05,
        32,
        (0.36, 0.38, 0.26),
        0.004,
        0.05,
        True,
        "食品有限公司",
    ),
    Industry(
        "C22",
        "造纸和纸制品业",
        "paper",
        3,
        6300,
        0.60,
        _FLAT,
        0.10,
        1.2,
        (0.45, 0.20, 0.10, 0.25),
        0.06,
        36,
        (0.31, 0.33, 0.36),
        0.003,
        0.5,
        True,
        "纸业有限公司",
    ),
    Industry(
        "C33",
        "金属制品业",
        "metal products",
        7,
        2000,
        0.45,
        (0.95, 0.78, 1.02, 1.03, 1.03, 1.02, 1.00, 1.00, 1.03, 1.04, 1.04, 1.06),
        0.30,
        1.3,
        (0.55, 0.15, 0.10, 0.20),
        0.08,
        30,
        (0.37, 0.37, 0.26),
        0.003,
        0.05,
        True,
        "金属制品有限公司",
    ),
    Industry(
        "C29",
        "橡胶和塑料制品业",
        "rubber and plastics",
        5,
        1600,
        0.50,
        (0.95, 0.80, 1.02, 1.02, 1.02, 1.03, 1.03, 1.03, 1.02, 1.02, 1.02, 1.04),
        0.25,
        1.2,
        (0.50, 0.15, 0.10, 0.25),
        0.07,
        32,
        (0.36, 0.37, 0.27),
        0.003,
        0.05,
        True,
        "塑胶有限公司",
    ),
    Industry(
        "C27",
        "医药制造业",
        "pharmaceuticals",
        3,
        3150,
        0.55,
        _FLAT,
        0.10,
        0.6,
        (0.30, 0.25, 0.30, 0.15),
        0.03,
        40,
        (0.34, 0.36, 0.30),
        0.001,
        0.1,
        True,
        "制药有限公司",
    ),
    Industry(
        "B06",
        "煤炭开采和洗选业",
        "coal mining",
        2,
        10000,
        0.58,
        _FLAT,
        0.08,
        1.0,
        (0.60, 0.10, 0.10, 0.20),
        0.10,
        42,
        (0.32, 0.34, 0.34),
        0.002,
        0.3,
        True,
        "矿业有限公司",
    ),
    Industry(
        "D46",
        "水的生产和供应业",
        "water supply",
        2,
        2000,
        0.60,
        (0.95, 0.92, 0.95, 0.98, 1.02, 1.06, 1.10, 1.10, 1.04, 1.00, 0.96, 0.94),
        0.02,
        0.2,
        (0.20, 0.30, 0.30, 0.20),
        0.01,
        48,
        (0.32, 0.34, 0.34),
        0.0,
        0.0,
        True,
        "水务有限公司",
    ),
    Industry(
        "E47",
        "房屋建筑业",
        "construction",
        2,
        630,
        0.30,
        (0.80, 0.60, 1.05, 1.10, 1.10, 1.05, 1.00, 1.00, 1.05, 1.10, 1.10, 1.00),
        0.45,
        2.5,
        (0.70, 0.00, 0.15, 0.15),
        0.12,
        30,
        (0.42, 0.40, 0.18),
        0.01,
        0.0,
        False,
        "建设工程有限公司",
    ),
    Industry(
        "I65",
        "信息技术服务业(数据中心)",
        "data centres",
        3,
        12500,
        0.68,
        (0.95, 0.95, 0.96, 0.98, 1.00, 1.05, 1.10, 1.10, 1.03, 0.98, 0.95, 0.95),
        0.00,
        0.5,
        (0.05, 0.25, 0.45, 0.25),
        0.02,
        48,
        (0.34, 0.34, 0.32),
        0.0,
        0.2,
        False,
        "数据科技有限公司",
    ),
    Industry(
        "Q84",
        "卫生",
        "hospitals",
        4,
        2500,
        0.35,
        (1.08, 1.00, 0.92, 0.90, 0.95, 1.05, 1.15, 1.15, 1.00, 0.92, 0.95, 1.05),
        0.05,
        0.2,
        (0.05, 0.30, 0.50, 0.15),
        0.0,
        48,
        (0.42, 0.40, 0.18),
        0.0,
        0.0,
        False,
        "医院",
    ),
    Industry(
        "F52",
        "零售业(商业综合体)",
        "malls and commercial complexes",
        6,
        4000,
        0.35,
        (1.02, 1.00, 0.88, 0.88, 0.95, 1.08, 1.20, 1.20, 1.02, 0.92, 0.90, 1.00),
        0.00,
        0.8,
        (0.25, 0.30, 0.25, 0.20),
        0.04,
        36,
        (0.45, 0.40, 0.15),
        0.0,
        0.0,
        False,
        "商业管理有限公司",
    ),
    Industry(
        "H61",
        "住宿业",
        "hotels",
        3,
        1250,
        0.30,
        (0.95, 1.00, 0.90, 0.95, 1.00, 1.05, 1.15, 1.15, 1.00, 1.02, 0.90, 0.95),
        0.00,
        1.0,
        (0.35, 0.20, 0.25, 0.20),
        0.05,
        36,
        (0.44, 0.40, 0.16),
        0.0,
        0.0,
        False,
        "酒店管理有限公司",
    ),
    Industry(
        "P83",
        "教育",
        "universities and colleges",
        3,
        2000,
        0.30,
        (0.95, 0.55, 1.05, 1.05, 1.05, 1.10, 0.70, 0.65, 1.05, 1.05, 1.05, 1.05),
        0.00,
        0.3,
        (0.10, 0.30, 0.40, 0.20),
        0.0,
        48,
        (0.45, 0.40, 0.15),
        0.0,
        0.0,
        False,
        "职业技术学院",
    ),
)

# Supplying units (供电单位): name, share of accounts, fault-outage multiplier.
REGIONS: tuple[tuple[str, float, float], ...] = (
    ("南京供电公司", 0.12, 0.8),
    ("无锡供电公司", 0.11, 0.8),
    ("徐州供电公司", 0.07, 1.4),
    ("常州供电公司", 0.09, 0.9),
    ("苏州供电公司", 0.18, 0.7),
    ("南通供电公司", 0.08, 1.0),
    ("连云港供电公司", 0.04, 1.5),
    ("淮安供电公司", 0.04, 1.4),
    ("盐城供电公司", 0.06, 1.3),
    ("扬州供电公司", 0.05, 1.1),
    ("镇江供电公司", 0.05, 1.0),
    ("泰州供电公司", 0.05, 1.1),
    ("宿迁供电公司", 0.06, 1.6),
)
CITY_PREFIX = tuple(name.removesuffix("供电公司") for name, _, _ in REGIONS)

BRANDS = (
    "恒达",
    "华晟",
    "永兴",
    "金鼎",
    "宏远",
    "新宇",
    "鑫源",
    "天合",
    "瑞丰",
    "隆盛",
    "中恒",
    "海润",
    "东方",
    "远航",
    "盛泰",
    "万通",
    "德胜",
    "汇川",
    "长江",
    "江南",
    "亚泰",
    "宝丰",
    "嘉禾",
    "协鑫",
    "润泽",
    "国泰",
    "双星",
    "福瑞",
    "腾飞",
    "顺昌",
    "兴业",
    "锦程",
    "博远",
    "正大",
    "光明",
    "三友",
)

# Standard transformer sizes: contract capacities are sums of these.
STANDARD_KVA = np.array(
    [
        315,
        400,
        500,
        630,
        800,
        1000,
        1250,
        1600,
        2000,
        2500,
        3150,
        4000,
        5000,
        6300,
        8000,
        10000,
        12500,
        16000,
        20000,
        25000,
        31500,
        40000,
        50000,
        63000,
        80000,
        100000,
    ],
    dtype=float,
)

# Energy price in 元/kWh at the flat period, by tariff category and voltage (kV), before policy.
FLAT_PRICE = {
    "large_industry": {
        10.0: 0.630,
        20.0: 0.620,
        35.0: 0.605,
        66.0: 0.595,
        110.0: 0.585,
        220.0: 0.575,
    },
    "general_commercial": {
        0.4: 0.720,
        10.0: 0.690,
        20.0: 0.680,
        35.0: 0.665,
        66.0: 0.655,
        110.0: 0.645,
        220.0: 0.640,
    },
    "other": {
        0.4: 0.560,
        10.0: 0.545,
        20.0: 0.540,
        35.0: 0.530,
        66.0: 0.525,
        110.0: 0.520,
        220.0: 0.515,
    },
}
CAPACITY_CHARGE = 25.0  # 元/kVA·月, capacity-based basic charge (大工业按容量)
DEMAND_CHARGE = 38.4  # 元/kW·月, demand-based basic charge (大工业按需量)

# Price policy events (all tariffs), by month: a multiplier applied from that month on.
PRICE_POLICY = (
    ("2021-10", 1.05),  # coal-linked market price band widened
    ("2023-06", 1.02),  # third regulatory period transmission and distribution tariffs
    ("2024-01", 1.02),  # capacity charge for coal power passed through
    ("2025-06", 0.98),  # new-energy market reform lowers the agency purchase price
    ("2026-01", 1.01),
)
# Time-of-use factors (peak, flat, valley), by month from which they apply.
TOU_FACTORS = (("2000-01", (1.60, 1.0, 0.40)), ("2024-01", (1.70, 1.0, 0.38)))

# Spring Festival (春节) dates; the dip falls on the fortnight around them.
SPRING_FESTIVAL = {
    2014: "2014-01-31",
    2015: "2015-02-19",
    2016: "2016-02-08",
    2017: "2017-01-28",
    2018: "2018-02-16",
    2019: "2019-02-05",
    2020: "2020-01-25",
    2021: "2021-02-12",
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
    2030: "2030-02-03",
    2031: "2031-01-23",
    2032: "2032-02-11",
    2033: "2033-01-31",
    2034: "2034-02-19",
    2035: "2035-02-08",
}


def festival_share(month: np.datetime64) -> float:
    """Share of the month inside the Spring Festival fortnight (7 days before to 7 days after)."""
    year = int(str(month)[:4])
    festival = np.datetime64(SPRING_FESTIVAL.get(year, f"{year}-02-05"), "D")
    first = month.astype("datetime64[D]")
    last = (month + 1).astype("datetime64[D]")
    days_in_month = int((last - first).astype(int))
    lo = max(first, festival - 7)
    hi = min(last, festival + 8)
    overlap = max(0, int((hi - lo).astype(int)))
    return overlap / days_in_month


def policy_multiplier(month: np.datetime64) -> float:
    """Cumulative effect of the price policy events in force in this month."""
    factor = 1.0
    for start, change in PRICE_POLICY:
        if month >= np.datetime64(start, "M"):
            factor *= change
    return factor


def tou_factors(month: np.datetime64) -> tuple[float, float, float]:
    """Peak, flat and valley price factors in force in this month."""
    current = TOU_FACTORS[0][1]
    for start, factors in TOU_FACTORS:
        if month >= np.datetime64(start, "M"):
            current = factors
    return current
