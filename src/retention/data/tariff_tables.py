"""The tariff tables (serving/tariffs.yaml): energy prices, basic charges and the power-factor
adjustment of each province or company, dated so a tariff change applies from its month.

The tables are data users edit (shipped as an example province; RETENTION_TARIFFS points at a
company's own copy). This module reads and validates them; a problem names the file, the key
and the rule, Chinese first with English beside. retention.data.tariff_bill prices bills with
them (for the tariff plan and for the simulator, which is why they sit in the data layer).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from retention.data.contract import TARIFF_CATEGORIES
from retention.settings import ConfigFileError, Settings

PERIODS = ("peak", "flat", "valley")  # the usage table's kwh_peak / kwh_flat / kwh_valley


def _month_text(value: Any) -> Any:
    # YAML reads 2024-01-01 as a date: the first day names its month.
    if isinstance(value, dt.date) and value.day == 1:
        return f"{value:%Y-%m}"
    return value


Month = Annotated[str, BeforeValidator(_month_text), Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Label(_Frozen):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class VoltageBand(_Frozen):
    """元/kWh by time-of-use period, for voltages from `from_kv` up to the next band's."""

    from_kv: float = Field(ge=0)
    peak: Price
    flat: Price
    valley: Price


class EnergyTable(_Frozen):
    """Energy prices of every tariff category, by voltage band, from `valid_from`."""

    valid_from: Month
    prices: dict[str, tuple[VoltageBand, ...]]

    @model_validator(mode="after")
    def _every_category_and_voltage(self) -> EnergyTable:
        missing = [c for c in TARIFF_CATEGORIES if c not in self.prices]
        unknown = [c for c in self.prices if c not in TARIFF_CATEGORIES]
        if missing or unknown:
            raise ValueError(
                f"缺少电价类别 / missing tariff categories {missing}"
                if missing
                else f"未知电价类别 / unknown tariff categories {unknown}"
            ) from None
        for category, bands in self.prices.items():
            starts = [band.from_kv for band in bands]
            if not starts or min(starts) != 0 or len(set(starts)) != len(starts):
                raise ValueError(
                    f"prices.{category}: 电压等级须从 0 kV 起且不重复 / voltage bands must start "
                    f"at from_kv 0 and not repeat (got {starts})"
                )
        return self

    def band(self, category: str, voltage_kv: float) -> VoltageBand:
        """The band that prices `category` at `voltage_kv` (the highest from_kv at or below)."""
        bands = [b for b in self.prices[category] if b.from_kv <= voltage_kv]
        return max(bands, key=lambda b: b.from_kv)


class BasicChargeTable(_Frozen):
    """The two-part tariff's basic charge (基本电费) and its rules, from `valid_from`."""

    valid_from: Month
    categories: tuple[str, ...] = Field(min_length=1)
    min_capacity_kva: float = Field(default=0, ge=0)
    capacity_cny_per_kva_month: Price
    demand_cny_per_kw_month: Price
    min_demand_share_of_capacity: Share
    switch_every_months: int = Field(ge=1, le=120)
    # An approved suspension (暂停) frees its capacity of the basic charge for at most this
    # many months (of 30 days) a calendar year; past them it is charged again.
    suspension_months_per_year: int = Field(default=6, ge=0, le=12)

    @model_validator(mode="after")
    def _known_categories(self) -> BasicChargeTable:
        unknown = [c for c in self.categories if c not in TARIFF_CATEGORIES]
        if unknown:
            raise ValueError(f"未知电价类别 / unknown tariff categories {unknown}")
        return self


class ReductionBand(_Frozen):
    up_to: Share
    percent_per_0_01: Price


class SurchargeBand(_Frozen):
    down_to: Share
    percent_per_0_01: Price


def _hundredths(value: float) -> int:
    return round(value * 100)


class PowerFactorStandard(_Frozen):
    """One standard's adjustment table: bands of percent per 0.01 above and below it."""

    standard: float = Field(gt=0, lt=1)
    reductions: tuple[ReductionBand, ...] = ()
    surcharges: tuple[SurchargeBand, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_in_order(self) -> PowerFactorStandard:
        points = [self.standard, *(b.up_to for b in self.reductions)]
        downs = [self.standard, *(b.down_to for b in self.surcharges)]
        for value in (*points, *downs):
            if abs(value * 100 - _hundredths(value)) > 1e-9:
                raise ValueError(f"{value}: 须为 0.01 的整数倍 / must be a multiple of 0.01")
        if any(b <= a for a, b in itertools.pairwise(points)):
            raise ValueError(
                f"reductions: up_to 须高于标准值并逐档递增 / must rise above the standard "
                f"{self.standard} band by band (got {points[1:]})"
            )
        if any(b >= a for a, b in itertools.pairwise(downs)):
            raise ValueError(
                f"surcharges: down_to 须低于标准值并逐档递减 / must fall below the standard "
                f"{self.standard} band by band (got {downs[1:]})"
            )
        return self

    def knots(self) -> tuple[list[int], list[float]]:
        """The table as a piecewise-linear function: power factors in hundredths, ascending,
        and the adjustment in percent of the bill at each (+ surcharge, - reduction)."""
        xs, ys = [_hundredths(self.standard)], [0.0]
        for band in self.reductions:
            ys.append(ys[-1] - band.percent_per_0_01 * (_hundredths(band.up_to) - xs[-1]))
            xs.append(_hundredths(band.up_to))
        below_x, below_y = [_hundredths(self.standard)], [0.0]
        for s_band in self.surcharges:
            steps = below_x[-1] - _hundredths(s_band.down_to)
            below_y.append(below_y[-1] + s_band.percent_per_0_01 * steps)
            below_x.append(_hundredths(s_band.down_to))
        return below_x[:0:-1] + xs, below_y[:0:-1] + ys


class StandardRule(_Frozen):
    """An account has `standard` when its category is listed (any, when left out) and its
    contract capacity is at least `min_capacity_kva`."""

    standard: float
    categories: tuple[str, ...] | None = None
    min_capacity_kva: float = Field(default=0, ge=0)


class PowerFactorTable(_Frozen):
    """The power-factor adjustment (功率因数调整电费办法), from `valid_from`."""

    valid_from: Month
    standards: tuple[PowerFactorStandard, ...] = Field(min_length=1)
    applies: tuple[StandardRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rules_name_a_table(self) -> PowerFactorTable:
        known = [s.standard for s in self.standards]
        if len(set(known)) != len(known):
            raise ValueError(f"standards: 标准值重复 / a standard appears twice {known}")
        for rule in self.applies:
            if rule.standard not in known:
                raise ValueError(
                    f"applies: 标准值 {rule.standard} 没有调整表 / standard {rule.standard} has "
                    f"no table in standards {known}"
                )
            unknown = [c for c in rule.categories or () if c not in TARIFF_CATEGORIES]
            if unknown:
                raise ValueError(f"applies: 未知电价类别 / unknown tariff categories {unknown}")
        return self

    def standard(self, standard: float) -> PowerFactorStandard:
        return next(s for s in self.standards if s.standard == standard)


def _one_entry_per_month(name: str, entries: Sequence[Any]) -> None:
    months = [entry.valid_from for entry in entries]
    repeated = sorted({m for m in months if months.count(m) > 1})
    if repeated:
        raise ValueError(
            f"{name}: 同一生效月份有两张表，无法确定执行哪一张 / two entries valid from the same "
            f"month {', '.join(repeated)}: which applies is ambiguous"
        )


class CompanyTariffs(_Frozen):
    """One province's or company's tables, each a list of dated entries."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    regions: tuple[str, ...] = ()
    energy: tuple[EnergyTable, ...] = Field(min_length=1)
    basic_charge: tuple[BasicChargeTable, ...] = Field(min_length=1)
    power_factor: tuple[PowerFactorTable, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _dated_once(self) -> CompanyTariffs:
        for name in ("energy", "basic_charge", "power_factor"):
            _one_entry_per_month(name, getattr(self, name))
        # In month order, so an entry applies until the next one.
        for name in ("energy", "basic_charge", "power_factor"):
            ordered = tuple(sorted(getattr(self, name), key=lambda e: e.valid_from))
            object.__setattr__(self, name, ordered)
        return self


class TariffTables(_Frozen):
    """Every company's tariff tables, and which block prices which supplying unit."""

    label: Label
    default_company: str
    companies: dict[str, CompanyTariffs] = Field(min_length=1)

    @model_validator(mode="after")
    def _blocks_are_known(self) -> TariffTables:
        if self.default_company not in self.companies:
            raise ValueError(
                f"default_company: {self.default_company!r} 不是 companies 中的一块 / is not a "
                f"block of companies ({', '.join(self.companies)})"
            )
        seen: dict[str, str] = {}
        for code, company in self.companies.items():
            for region in company.regions:
                if region in seen:
                    raise ValueError(
                        f"companies.{code}.regions: 供电单位 {region!r} 已属于 {seen[region]} "
                        f"/ supplying unit {region!r} is already priced by {seen[region]}"
                    )
                seen[region] = code
        return self

    def company_of(self, region: str) -> str:
        """The block that prices an account of this supplying unit."""
        for code, company in self.companies.items():
            if region in company.regions:
                return code
        return self.default_company


# pydantic's error types as rules a person reads, Chinese first.
_RULES = {
    "missing": "缺少必填项 / required field missing",
    "extra_forbidden": "未知字段（拼写错误？）/ unknown field (a typo?)",
    "greater_than_equal": "不能为负 / must not be negative",
    "greater_than": "必须大于 {gt} / must be > {gt}",
    "less_than_equal": "不能大于 {le} / must be <= {le}",
    "less_than": "必须小于 {lt} / must be < {lt}",
    "string_pattern_mismatch": "月份须为 YYYY-MM / must be a month YYYY-MM",
    "finite_number": "须为有限数 / must be a finite number",
    "too_short": "不能为空 / must not be empty",
}


def _rule(error: Any) -> str:
    template = _RULES.get(error["type"])
    if template is not None:
        return template.format(**error.get("ctx", {}))
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if error["type"] == "value_error" else f"取值无效 / invalid: {message}"


def _key(raw: Any, loc: Sequence[Any]) -> str:
    """The path to a value, a dated entry or band named by its month or voltage, not its
    position: companies.example.energy[2024-01].prices.large_industry[from 0 kV].valley."""
    parts: list[str] = []
    node = raw
    for step in loc:
        child = None
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            child = node[step]
            name = f"[{step}]"
            if isinstance(child, dict):
                for field, shown in (("valid_from", "{}"), ("from_kv", "from {} kV"),
                                     ("standard", "standard {}")):  # fmt: skip
                    if field in child:
                        name = "[" + shown.format(child[field]) + "]"
                        break
            parts.append(name)
        else:
            child = node.get(step) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(step))
        node = child
    return "".join(parts) or "(file)"


def load_tariffs(path: Path | None = None) -> TariffTables:
    """Read the tariff tables (default: the RETENTION_TARIFFS setting, else the packaged
    example province); every problem is named with the file, the key and the rule."""
    path = path or Settings().tariffs_file
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ConfigFileError(f"{path}: 电价表文件不存在 / tariff tables not found") from err
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{path}: 不是有效的 YAML / not valid YAML: {err}") from err
    try:
        return TariffTables.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{_key(raw, e['loc'])}: {_rule(e)}" for e in err.errors())
        raise ConfigFileError(f"{path}: {problems}") from err
