"""The data contract (docs/data-contract.md) as code: one source of truth for every table.

Each table is a `TableSpec` of `ColumnSpec`s (kind, nullability, allowed values, value checks),
its key and its time-order rules. The pandera schema of a table (`schema_of`) is built from the
same specs and describes the *typed* in-memory frame that `retention.data.loading.load_dataset`
returns; `retention.data.checks` runs it and turns its failure cases into problems.

In-memory types after loading (what feature code relies on):

| kind      | dtype                                   | null  |
|-----------|-----------------------------------------|-------|
| string    | `str` (pandas 3 StringDtype, NaN nulls) | NaN   |
| enum      | `str`                                   | NaN   |
| float     | float64                                 | NaN   |
| int       | nullable `Int64`                        | <NA>  |
| bool      | nullable `boolean`                      | <NA>  |
| date      | datetime64[us], midnight                | NaT   |
| month     | datetime64[us], first day of the month  | NaT   |
| timestamp | datetime64[us], naive local time        | NaT   |

`datetime64[us]` is what pandas 3 itself produces when it parses text or builds a date range,
so frames made by feature code compare and merge with loaded ones without unit casts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from retention.records.labels import INTERVENTION_OUTCOMES, OUTCOME_LABELS

ColumnKind = Literal["string", "float", "int", "bool", "enum", "date", "month", "timestamp"]

DATETIME_DTYPE = "datetime64[us]"
STRING_DTYPE = pd.StringDtype(na_value=np.nan)  # the pandas 3 default `str` dtype
PANDAS_DTYPES: dict[str, Any] = {
    "string": STRING_DTYPE,
    "enum": STRING_DTYPE,
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
    "date": DATETIME_DTYPE,
    "month": DATETIME_DTYPE,
    "timestamp": DATETIME_DTYPE,
}
DATETIME_KINDS = frozenset({"date", "month", "timestamp"})
EARLIEST, LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2100-12-31 23:59:59")

# Columns holding personal or commercial data: never logged, masked in validation examples.
PERSONAL_COLUMNS = frozenset({"customer_name", "applicant_name"})

# --- allowed values ---------------------------------------------------------------------------
VOLTAGES_KV: tuple[float, ...] = (0.4, 10.0, 20.0, 35.0, 66.0, 110.0, 220.0)
TARIFF_CATEGORIES = ("large_industry", "general_commercial", "other")
# How an account's basic charge (基本电费) is billed: by contract capacity or by maximum demand.
BASIC_CHARGE_MODES = ("capacity", "demand")
DEFAULT_BASIC_CHARGE_MODE = "capacity"  # an empty cell, or no such column: by capacity
MARKET_MODES = ("grid_agency", "direct_trading", "retailer")
CHANNELS = ("hotline_95598", "online_app", "service_hall", "account_manager")
TICKET_CATEGORIES = ("complaint", "opinion", "inquiry", "repair", "praise")
ORDER_TYPES = (
    "new_connection",
    "capacity_increase",
    "capacity_reduction",
    "suspension",
    "resumption",
    "closure",
    "tariff_change",
    "transfer",
)
ORDER_STATUSES = ("open", "completed", "cancelled")
# interventions.outcome; the service's follow-ups add "contacted" (records.labels)
OUTCOMES = INTERVENTION_OUTCOMES
# The service-standard playbook (serving/playbook.yaml; interventions.action_code).
ACTION_CODES = (
    "dedicated_manager",
    "tariff_plan",
    "dispatch_reliability_plan",
    "connection_project",
    "capacity_change_visit",
    "new_energy_support",
    "integrated_channel",
    "payment_arrangement",
    "market_retention_offer",
)
# interventions.assignment: followed up, or held out by the draw at the capacity edge (the
# control group, which keeps the action it would have got). Empty or absent: followed_up.
ASSIGNMENTS = ("followed_up", "held_out")
DEFAULT_ASSIGNMENT = "followed_up"
# Connection applications (业扩报装, tables applications and application_steps).
APPLICATION_TYPES = ("new_connection", "capacity_increase")
SUPPLY_TYPES = ("single", "dual")
APPLICATION_CHANNELS = ("online_app", "service_hall", "account_manager")
APPLICATION_STATUSES = ("open", "connected", "withdrawn")
CLOSED_APPLICATION_STATUSES = ("connected", "withdrawn")  # exactly these have closed_at
# The steps of an application, in process order.
STEP_CODES = (
    "site_survey_contact",
    "supply_plan_reply",
    "dispatch_agreement",
    "design_review",
    "mid_inspection",
    "completion_inspection",
    "energising",
)
# How many times one step may ask for documents: more is a typo, not a bureaucracy.
MAX_DOCUMENT_REQUESTS = 50

# Chinese labels of the enum values, as the contract and the glossary name them.
VALUE_LABELS_ZH: dict[str, str] = {
    "large_industry": "大工业",
    "general_commercial": "一般工商业",
    "other": "其他",
    "capacity": "按容量",
    "demand": "按需量",
    "grid_agency": "电网代理购电",
    "direct_trading": "直接交易",
    "retailer": "售电公司代理",
    "hotline_95598": "95598 热线",
    "online_app": "网上国网",
    "service_hall": "营业厅",
    "account_manager": "客户经理",
    "complaint": "投诉",
    "opinion": "意见",
    "inquiry": "咨询",
    "repair": "故障报修",
    "praise": "表扬",
    "new_connection": "新装",
    "capacity_increase": "增容",
    "capacity_reduction": "减容",
    "suspension": "暂停",
    "resumption": "暂停恢复",
    "closure": "销户",
    "tariff_change": "改类",
    "transfer": "过户",
    "open": "未完成",
    "completed": "已完成",
    "cancelled": "已撤销",
    "single": "单电源",
    "dual": "双电源",
    "connected": "已接电",
    "withdrawn": "已撤销",
    "site_survey_contact": "现场勘查联系",
    "supply_plan_reply": "供电方案答复",
    "dispatch_agreement": "调度协议",
    "design_review": "设计文件审核",
    "mid_inspection": "中间检查",
    "completion_inspection": "竣工检验",
    "energising": "装表接电",
    "followed_up": "已跟进",
    "held_out": "对照组（随机暂不跟进）",
    **{outcome: OUTCOME_LABELS[outcome][0] for outcome in OUTCOMES},
}

# kwh_peak + kwh_flat + kwh_valley must be within this share of kwh_total when all are present.
KWH_PARTS = ("kwh_peak", "kwh_flat", "kwh_valley")
KWH_PARTS_TOLERANCE = 0.01

# --- plausibility: what a key account can draw and be billed ---------------------------------
# Bounds that catch the absurd (1e308, Wh taken for kWh, fen for yuan, digits typed twice)
# while real accounts pass with room to spare. Monthly values are bounded by the account's
# capacity (a rule across tables, `CAPACITY_RULES`); every float column also has an absolute
# finite bound, so nothing infinite or astronomical reaches the features, the model or the store.

# The largest contract capacity (kVA) an account may have: 5 GVA, several times the largest
# single customers supplied at 220 kV or below (aluminium smelters, steel works: about 1 GVA).
MAX_CAPACITY_KVA = 5_000_000.0
LONGEST_MONTH_HOURS = 31 * 24
# How far a month's kWh (as an average load) and its max demand may exceed the largest capacity
# the account can have had (`largest_capacity_kva`). At most 1x is physical (kW <= kVA at a
# power factor <= 1); transformers carry short overloads (max demand is a 15-minute peak) and
# the archive lags its orders (an increase under way, a reduction done before the work orders
# start). The simulator's extremes at 100,000 accounts are 1.25x (kWh) and 1.6x (demand).
CAPACITY_MARGIN = 3.0
# Bills: energy at most 5 元/kWh (the dearest time-of-use price, 尖峰, is about 1.5-2 元/kWh with
# transmission and funds; the rest is room for power-factor surcharges, late fees 违约金 and
# corrections billed with the month), plus a basic charge of at most 200 元 per kVA of capacity
# (capacity-based about 25-30 元/kVA; demand-based about 40 元/kW on a demand up to
# CAPACITY_MARGIN x capacity).
ENERGY_PRICE_CAP_CNY_PER_KWH = 5.0
BASIC_CHARGE_CAP_CNY_PER_KVA = 200.0
# A payment may settle arrears or pay ahead: at most a year of the largest bills the capacity
# allows, whatever the month's own bill.
PAYMENT_MONTHS_CAP = 12


def most_kwh(capacity_kva: Any, hours: Any) -> Any:
    """The most kWh an account of this capacity can plausibly draw in a month of `hours`."""
    return capacity_kva * hours * CAPACITY_MARGIN


def most_max_demand_kw(capacity_kva: Any) -> Any:
    """The highest plausible max demand (kW) of an account of this capacity."""
    return capacity_kva * CAPACITY_MARGIN


def most_billed_cny(capacity_kva: Any, hours: Any, kwh: Any) -> Any:
    """The largest plausible bill of a month with `kwh` metered (NaN: no reading, then the
    most the capacity can draw)."""
    energy = np.where(np.isnan(kwh), most_kwh(capacity_kva, hours), kwh)
    return ENERGY_PRICE_CAP_CNY_PER_KWH * energy + BASIC_CHARGE_CAP_CNY_PER_KVA * capacity_kva


def most_paid_cny(capacity_kva: Any) -> Any:
    """The largest plausible payment in a month: a year of the largest bills."""
    hours = LONGEST_MONTH_HOURS
    return PAYMENT_MONTHS_CAP * most_billed_cny(capacity_kva, hours, np.nan)


MAX_MONTHLY_KWH = float(most_kwh(MAX_CAPACITY_KVA, LONGEST_MONTH_HOURS))
MAX_DEMAND_KW = float(most_max_demand_kw(MAX_CAPACITY_KVA))
MAX_BILL_CNY = float(most_billed_cny(MAX_CAPACITY_KVA, LONGEST_MONTH_HOURS, np.nan))
MAX_PAYMENT_CNY = float(most_paid_cny(MAX_CAPACITY_KVA))
# A captive plant may be larger than the contract capacity, but not than the largest capacity.
MAX_SELF_GENERATION_KW = MAX_CAPACITY_KVA


# --- rule texts (short, English / 中文); also the pandera check error messages ---------------
class Rule:
    """The rule texts a validation report names."""

    MISSING_TABLE = "missing required table / 缺少必需的表"
    TWO_FILES = "both NAME.csv and NAME.parquet present / 同一张表有两个文件"
    FOLDER_NOT_FOUND = "dataset folder not found / 数据文件夹不存在"
    UNKNOWN_FILE = "not a table of the contract, ignored / 不是约定的表，已忽略"
    EMPTY_FILE = "empty file / 空文件"
    EMPTY_OPTIONAL_FILE = "empty file, optional table taken as absent / 空文件，视为无此表"
    UNREADABLE_ENCODING = "unreadable encoding / 无法识别的文件编码"
    UNREADABLE_FILE = "unreadable file / 文件无法读取"
    NUL_BYTES = "NUL bytes (\\x00) in a text file / 文本文件中有空字符 (NUL)"
    MISSING_COLUMN = "missing required column / 缺少必需的列"
    EXTRA_COLUMNS = "extra columns, ignored / 多余的列，已忽略"
    NOT_TEXT = "not text / 不是文本"
    NOT_A_NUMBER = "not a number / 不是数字"
    NOT_AN_INTEGER = "not an integer (or out of range) / 不是整数或超出范围"
    NOT_A_BOOL = "not true/false / 不是 是/否"
    NOT_A_DATE = "not a date YYYY-MM-DD / 日期格式错误"
    NOT_A_MONTH = "not a month YYYY-MM / 月份格式错误"
    NOT_A_TIMESTAMP = "not a timestamp YYYY-MM-DD HH:MM[:SS] / 时间格式错误"
    NOT_NULL = "must not be empty / 不能为空"
    PLAUSIBLE_TIME = "must be between 1900 and 2100 / 时间须在 1900 至 2100 年之间"
    NON_NEGATIVE = "must be >= 0 / 不能为负"
    POSITIVE = "must be > 0 / 必须大于 0"
    POWER_FACTOR = "must be in (0, 1] / 须在 (0, 1] 之间"
    PROBABILITY = "must be a probability in (0, 1] / 须为 (0, 1] 之间的概率"
    SATISFACTION = "must be 1..5 / 须为 1 到 5"
    UNKNOWN_CUSTOMER = "unknown customer_id, not in customers / 户号不在客户档案中"
    UNKNOWN_APPLICATION = "unknown application_id, not in applications / 申请编号不在业扩申请中"
    PARTITION_MISSING = (
        "a partition's file is missing: every table needs the same part files as customers/ "
        "/ 分区文件缺失：每张表须有与 customers/ 相同的分区文件"
    )
    ROWS_IN_OTHER_PARTITION = (
        "the account's customers row is in another partition: an account's rows must all be "
        "in one partition / 账户的行跨分区：同一户号的所有行须在同一分区"
    )
    UNKNOWN_UNIT = "not a region (supplying unit) of customers / 供电单位不在客户档案中"
    DOCUMENT_REQUESTS = f"must be 0..{MAX_DOCUMENT_REQUESTS} / 须为 0 到 {MAX_DOCUMENT_REQUESTS}"
    HELD_OUT_CONTACTED = (
        "a held_out assignment has no contact: contacted_at must be empty "
        "/ 对照组（暂不跟进）不能有联系时间"
    )
    HELD_OUT_UNREACHABLE = (
        "a held_out assignment is not contacted, so it cannot be unreachable "
        "/ 对照组未联系，结果不能是无法联系"
    )
    RANDOMISED_WITHOUT_PROBABILITY = (
        "a randomised or held_out assignment needs its assignment_probability "
        "/ 随机分配或对照组的记录须有分配概率"
    )
    CLOSED_AT_STATUS = (
        "closed_at must be set exactly when status is connected or withdrawn "
        "/ 已接电或已撤销的申请须有办结时间，办理中的不能有"
    )
    INCREASE_WITHOUT_CUSTOMER = "capacity_increase without customer_id / 增容申请须有户号"
    STEP_BEFORE_ACCEPTANCE = (
        "started_at before the application's accepted_at / 环节开始时间早于申请受理时间"
    )
    KWH_PARTS_MISMATCH = (
        "kwh_peak + kwh_flat + kwh_valley differs from kwh_total by more than 1% "
        "/ 峰平谷电量之和与总电量不符"
    )
    KWH_OVER_CAPACITY = (
        f"more than contract capacity x hours of the month x {CAPACITY_MARGIN:g} (capacity: "
        f"the archive's plus completed reductions) / 电量超过合同容量（含已完成的减容）"
        f"× 当月小时数 × {CAPACITY_MARGIN:g}"
    )
    DEMAND_OVER_CAPACITY = (
        f"more than contract capacity x {CAPACITY_MARGIN:g} (capacity: the archive's plus "
        f"completed reductions) / 最大需量超过合同容量（含已完成的减容）× {CAPACITY_MARGIN:g}"
    )
    BILL_OVER_LIMIT = (
        f"more than {ENERGY_PRICE_CAP_CNY_PER_KWH:g} CNY/kWh x the month's kWh + "
        f"{BASIC_CHARGE_CAP_CNY_PER_KVA:g} CNY/kVA x contract capacity / 应收电费超过 "
        f"{ENERGY_PRICE_CAP_CNY_PER_KWH:g} 元/千瓦时 × 当月电量 + "
        f"{BASIC_CHARGE_CAP_CNY_PER_KVA:g} 元/千伏安 × 合同容量"
    )
    PAYMENT_OVER_LIMIT = (
        f"more than {PAYMENT_MONTHS_CAP} months of the largest bill the contract capacity "
        f"allows / 实收电费超过合同容量所允许的 {PAYMENT_MONTHS_CAP} 个月最高电费"
    )

    @staticmethod
    def one_of(values: tuple[Any, ...]) -> str:
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        return f"must be one of: {shown} / 取值不在允许范围"

    @staticmethod
    def at_most(limit: float) -> str:
        return f"must be <= {limit:.4g} / 不能大于 {limit:.4g}"

    @staticmethod
    def at_least(limit: float) -> str:
        return f"must be >= {limit:.4g} / 不能小于 {limit:.4g}"

    @staticmethod
    def duplicate_key(key: tuple[str, ...]) -> str:
        return f"duplicate key ({', '.join(key)}) / 主键重复"

    @staticmethod
    def not_before(start: str, end: str, strict: bool, zh: str = "结束时间早于开始时间") -> str:
        op = ">" if strict else ">="
        return f"{end} must be {op} {start} / {zh}"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table: its kind, nullability and value checks."""

    name: str
    kind: ColumnKind
    nullable: bool = False
    values: tuple[Any, ...] | None = None  # allowed values (enum kind, or a set of numbers)
    checks: tuple[pa.Check, ...] = ()
    description: str = ""
    at_most: float | None = None  # the absolute upper bound of a number column
    optional: bool = False  # the file may leave the column out (readers take its default)

    @property
    def dtype(self) -> Any:
        return PANDAS_DTYPES[self.kind]

    def pandera_checks(self) -> list[pa.Check]:
        checks = list(self.checks)
        if self.at_most is not None:
            checks.append(pa.Check.le(self.at_most, error=Rule.at_most(self.at_most)))
        if self.kind in DATETIME_KINDS:  # a year 70 due date is a typo, not a date
            checks.append(
                pa.Check.in_range(EARLIEST, LATEST, ignore_na=True, error=Rule.PLAUSIBLE_TIME)
            )
        if self.values is not None:
            checks.append(pa.Check.isin(list(self.values), error=Rule.one_of(self.values)))
        return checks


@dataclass(frozen=True)
class TimeOrder:
    """`end` must not come before `start` in a row (strictly after when `strict`)."""

    start: str
    end: str
    strict: bool = False
    zh: str = "结束时间早于开始时间"  # what the order means, for a person

    @property
    def rule(self) -> str:
        return Rule.not_before(self.start, self.end, self.strict, self.zh)


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract."""

    name: str
    required: bool
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    refers_to_customers: bool = True  # customer_id must exist in customers
    time_orders: tuple[TimeOrder, ...] = ()
    description: str = ""

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


def _non_negative() -> pa.Check:
    return pa.Check.ge(0, error=Rule.NON_NEGATIVE)


def _string(name: str, nullable: bool = False, description: str = "") -> ColumnSpec:
    return ColumnSpec(name, "string", nullable, description=description)


def _float(name: str, *checks: pa.Check, at_most: float, nullable: bool = False) -> ColumnSpec:
    return ColumnSpec(name, "float", nullable, checks=checks, at_most=at_most)


def _enum(name: str, values: tuple[str, ...]) -> ColumnSpec:
    return ColumnSpec(name, "enum", values=values)


_CUSTOMER_ID = _string("customer_id", description="户号")
_APPLICATION_ID = _string("application_id", description="申请编号")

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "customers",
            required=True,
            description="one row per key account (大客户档案)",
            key=("customer_id",),
            refers_to_customers=False,
            time_orders=(TimeOrder("open_date", "close_date"),),
            columns=(
                _CUSTOMER_ID,
                _string("customer_name", description="户名; personal/commercial, never logged"),
                _string("industry_code", description="GB/T 4754-2017 division, e.g. C31"),
                _string("region", description="supplying unit 供电单位"),
                ColumnSpec("voltage_kv", "float", values=VOLTAGES_KV),
                _float(
                    "contract_capacity_kva",
                    pa.Check.gt(0, error=Rule.POSITIVE),
                    at_most=MAX_CAPACITY_KVA,
                ),
                _enum("tariff_category", TARIFF_CATEGORIES),
                _enum("market_mode", MARKET_MODES),
                _string("account_manager_id", nullable=True),
                ColumnSpec("open_date", "date", description="立户"),
                ColumnSpec("close_date", "date", nullable=True, description="销户"),
                _float("self_generation_kw", _non_negative(), at_most=MAX_SELF_GENERATION_KW),
                ColumnSpec(
                    "basic_charge_mode",
                    "enum",
                    nullable=True,
                    values=BASIC_CHARGE_MODES,
                    optional=True,
                    description="基本电费计收方式; empty or absent: capacity",
                ),
            ),
        ),
        TableSpec(
            "monthly_usage",
            required=True,
            description="one row per account and month (抄表电量)",
            key=("customer_id", "month"),
            columns=(
                _CUSTOMER_ID,
                ColumnSpec("month", "month"),
                _float("kwh_total", _non_negative(), at_most=MAX_MONTHLY_KWH),
                *(
                    _float(part, _non_negative(), at_most=MAX_MONTHLY_KWH, nullable=True)
                    for part in KWH_PARTS
                ),
                _float("max_demand_kw", _non_negative(), at_most=MAX_DEMAND_KW, nullable=True),
                ColumnSpec(
                    "power_factor",
                    "float",
                    nullable=True,
                    checks=(pa.Check.in_range(0, 1, include_min=False, error=Rule.POWER_FACTOR),),
                ),
            ),
        ),
        TableSpec(
            "monthly_billing",
            required=True,
            description="one row per account and month (电费应收/实收)",
            key=("customer_id", "month"),
            columns=(
                _CUSTOMER_ID,
                ColumnSpec("month", "month"),
                _float("amount_due_cny", _non_negative(), at_most=MAX_BILL_CNY),
                _float("amount_paid_cny", _non_negative(), at_most=MAX_PAYMENT_CNY),
                ColumnSpec("due_date", "date"),
                ColumnSpec("paid_date", "date", nullable=True),
            ),
        ),
        TableSpec(
            "service_tickets",
            required=False,
            description="customer-service work orders from every channel (95598 等工单)",
            key=("ticket_id",),
            time_orders=(TimeOrder("opened_at", "closed_at"),),
            columns=(
                _string("ticket_id"),
                _CUSTOMER_ID,
                ColumnSpec("opened_at", "timestamp"),
                ColumnSpec("closed_at", "timestamp", nullable=True),
                _enum("channel", CHANNELS),
                _enum("category", TICKET_CATEGORIES),
                ColumnSpec(
                    "satisfaction",
                    "int",
                    nullable=True,
                    checks=(pa.Check.in_range(1, 5, error=Rule.SATISFACTION),),
                ),
                ColumnSpec("sla_met", "bool", nullable=True),
            ),
        ),
        TableSpec(
            "work_orders",
            required=False,
            description="connection and change-of-use orders (业扩报装 / 变更用电)",
            key=("order_id",),
            time_orders=(TimeOrder("applied_at", "completed_at"),),
            columns=(
                _string("order_id"),
                _CUSTOMER_ID,
                _enum("order_type", ORDER_TYPES),
                ColumnSpec("applied_at", "timestamp"),
                ColumnSpec("completed_at", "timestamp", nullable=True),
                _float(  # signed; 0 where not applicable
                    "capacity_change_kva",
                    pa.Check.ge(-MAX_CAPACITY_KVA, error=Rule.at_least(-MAX_CAPACITY_KVA)),
                    at_most=MAX_CAPACITY_KVA,
                ),
                _enum("status", ORDER_STATUSES),
            ),
        ),
        TableSpec(
            "outages",
            required=False,
            description="interruptions that reached the account (停电记录)",
            time_orders=(TimeOrder("start_at", "end_at", strict=True),),
            columns=(
                _CUSTOMER_ID,
                ColumnSpec("start_at", "timestamp"),
                ColumnSpec("end_at", "timestamp"),
                ColumnSpec("planned", "bool"),
            ),
        ),
        TableSpec(
            "interventions",
            required=False,
            description="retention follow-ups and their outcomes (the service's own log)",
            key=("intervention_id",),
            # a contact (and so an outcome) before the follow-up was assigned is a wrong date
            time_orders=(TimeOrder("created_at", "contacted_at", zh="联系时间早于分配时间"),),
            columns=(
                _string("intervention_id"),
                _CUSTOMER_ID,
                # A string in the contract, but it must be a code of the playbook.
                ColumnSpec("action_code", "string", values=ACTION_CODES),
                ColumnSpec("created_at", "timestamp"),
                ColumnSpec("contacted_at", "timestamp", nullable=True),
                _enum("outcome", OUTCOMES),
                # The probability the assignment policy gave this follow-up (its propensity):
                # what lets the follow-ups' outcomes be compared without bias.
                ColumnSpec(
                    "assignment_probability",
                    "float",
                    nullable=True,
                    optional=True,
                    checks=(pa.Check.in_range(0, 1, include_min=False, error=Rule.PROBABILITY),),
                ),
                # Held-out rows are the control group the effects are measured against.
                ColumnSpec(
                    "assignment",
                    "enum",
                    nullable=True,
                    values=ASSIGNMENTS,
                    optional=True,
                    description="分配; empty or absent: followed_up",
                ),
                # Which follow-ups were drawn at random against a hold-out (the capacity
                # edge): only those compare with the controls without bias.
                ColumnSpec(
                    "randomised",
                    "bool",
                    nullable=True,
                    optional=True,
                    description="随机分配; empty or absent: false; held_out rows always are",
                ),
            ),
        ),
        TableSpec(
            "applications",
            required=False,
            description="connection applications, one row each (业扩报装申请: 新装 / 增容)",
            key=("application_id",),
            # customer_id may be empty (a new applicant); a given one must be in customers
            time_orders=(TimeOrder("accepted_at", "closed_at"),),
            columns=(
                _APPLICATION_ID,
                _string("applicant_name", description="申请人; personal/commercial, never logged"),
                _enum("application_type", APPLICATION_TYPES),
                _string("customer_id", nullable=True, description="户号; required for 增容"),
                _string("industry_code", description="GB/T 4754-2017 division, e.g. C31"),
                _string("region", description="supplying unit 供电单位, one of customers'"),
                ColumnSpec("voltage_kv", "float", values=VOLTAGES_KV),
                _float(
                    "requested_capacity_kva",
                    pa.Check.gt(0, error=Rule.POSITIVE),
                    at_most=MAX_CAPACITY_KVA,
                ),
                _enum("supply_type", SUPPLY_TYPES),
                _enum("channel", APPLICATION_CHANNELS),
                ColumnSpec("accepted_at", "timestamp", description="受理"),
                _enum("status", APPLICATION_STATUSES),
                ColumnSpec("closed_at", "timestamp", nullable=True, description="接电 / 撤销"),
                _string("owner_id", nullable=True, description="责任客户经理"),
            ),
        ),
        TableSpec(
            "application_steps",
            required=False,
            description="the steps of each application (业扩环节)",
            key=("application_id", "step_code"),
            refers_to_customers=False,
            time_orders=(TimeOrder("started_at", "finished_at"),),
            columns=(
                _APPLICATION_ID,
                _enum("step_code", STEP_CODES),
                ColumnSpec("started_at", "timestamp"),
                ColumnSpec("finished_at", "timestamp", nullable=True),
                ColumnSpec(
                    "document_requests",
                    "int",
                    checks=(
                        pa.Check.in_range(0, MAX_DOCUMENT_REQUESTS, error=Rule.DOCUMENT_REQUESTS),
                    ),
                ),
                _string("handled_by", nullable=True),
            ),
        ),
    )
}


@dataclass(frozen=True)
class CapacityRule:
    """A monthly value bounded by its account's capacity: a rule across tables.

    `limit(capacity_kva, hours, kwh)` gives each row's bound from the largest capacity its
    account can have had (`largest_capacity_kva`), the hours of its month and, for bills,
    the kWh metered that month (NaN where the month has no reading).
    """

    table: str
    column: str
    rule: str
    limit: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


CAPACITY_RULES: tuple[CapacityRule, ...] = (
    *(
        CapacityRule(
            "monthly_usage", column, Rule.KWH_OVER_CAPACITY, lambda c, h, _: most_kwh(c, h)
        )
        for column in ("kwh_total", *KWH_PARTS)
    ),
    CapacityRule(
        "monthly_usage",
        "max_demand_kw",
        Rule.DEMAND_OVER_CAPACITY,
        lambda c, _h, _k: most_max_demand_kw(c),
    ),
    CapacityRule("monthly_billing", "amount_due_cny", Rule.BILL_OVER_LIMIT, most_billed_cny),
    CapacityRule(
        "monthly_billing",
        "amount_paid_cny",
        Rule.PAYMENT_OVER_LIMIT,
        lambda c, _h, _k: most_paid_cny(c),
    ),
)


def largest_capacity_kva(customers: pd.DataFrame, work_orders: pd.DataFrame | None) -> np.ndarray:
    """The largest contract capacity each account (row of `customers`) can have had in the
    data: the archive's, which is today's, plus every reduction its completed work orders
    record. Undoing every reduction and none of the increases bounds any earlier capacity."""
    capacity = customers["contract_capacity_kva"].to_numpy(dtype=float, na_value=np.nan)
    needed = {"customer_id", "status", "capacity_change_kva"}
    if work_orders is None or not needed <= set(work_orders.columns):
        return capacity
    change = work_orders["capacity_change_kva"]
    given_up = work_orders[(work_orders["status"] == "completed") & (change < 0)]
    reduced = (-given_up["capacity_change_kva"]).groupby(given_up["customer_id"]).sum()
    return capacity + customers["customer_id"].map(reduced).fillna(0.0).to_numpy(dtype=float)


_FIRST_MONTH = np.datetime64(EARLIEST, "M")
_MONTHS = np.arange(_FIRST_MONTH, np.datetime64(LATEST, "M") + 1)  # 1900-01 .. 2100-12
# The hours of every month the contract accepts, then NaN for a month outside them (or NaT).
_HOURS = np.append(
    (_MONTHS + 1).astype("datetime64[D]").astype(float) * 24
    - _MONTHS.astype("datetime64[D]").astype(float) * 24,
    np.nan,
)


def month_hours(months: np.ndarray) -> np.ndarray:
    """Hours in each month (datetime64; NaN where NaT or outside 1900-2100); China keeps no
    summer time. A lookup in the contract's 2,412 months: three passes over the rows."""
    offset = (months.astype("datetime64[M]") - _FIRST_MONTH).astype(np.int64)  # NaT: int64 min
    return _HOURS[np.clip(offset, -1, len(_HOURS) - 1)]


TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
REQUIRED_TABLES: frozenset[str] = frozenset(n for n, t in TABLES.items() if t.required)
OPTIONAL_TABLES: frozenset[str] = frozenset(n for n, t in TABLES.items() if not t.required)


def table_spec(table: str) -> TableSpec:
    """The spec of one table; KeyError names the known tables."""
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; the contract has {', '.join(TABLES)}") from None


def columns_of(table: str) -> list[str]:
    """The contract's columns of `table`, in the order the simulator and the writer use."""
    return table_spec(table).column_names


@cache
def schema_of(table: str) -> pa.DataFrameSchema:
    """The pandera schema of the typed, loaded frame of `table` (run it with lazy=True).

    Extra columns are allowed (strict=False); nothing is coerced: loading parses the types.
    An optional column (`ColumnSpec.optional`) may be absent.
    """
    spec = table_spec(table)
    return pa.DataFrameSchema(
        {
            column.name: pa.Column(
                column.dtype,
                checks=column.pandera_checks(),
                nullable=column.nullable,
                required=not column.optional,
                description=column.description or None,
            )
            for column in spec.columns
        },
        unique=list(spec.key) or None,
        strict=False,
        coerce=False,
        name=table,
    )
