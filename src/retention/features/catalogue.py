"""The feature catalogue (features/catalogue.yaml): names, groups, directions and reason texts.

Shipped in the package; the setting RETENTION_CATALOGUE points at a user's own copy. Loaded
and validated once when a job starts; a typo in the file fails loudly with the field.
`render_reason` writes an account's own value into a feature's reason template, in Chinese or
English, in the words and units a manager uses.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retention.settings import ConfigFileError, Settings, load_yaml_model

Unit = Literal[
    "change",
    "share",
    "points",
    "gap_points",
    "ratio",
    "count",
    "months",
    "days",
    "hours",
    "years",
    "cny",
    "kwh",
    "kva",
    "kv",
    "price",
    "score",
    "flag",
    "category",
]
Lang = Literal["zh", "en"]

# Words for category values in reasons (codes stay English in data and code).
CATEGORY_WORDS: dict[str, tuple[str, str]] = {
    "large_industry": ("大工业", "large industry"),
    "general_commercial": ("一般工商业", "general commercial"),
    "other": ("其他", "other"),
    "grid_agency": ("电网代理购电", "grid agency purchase"),
    "direct_trading": ("直接交易", "direct trading"),
    "retailer": ("售电公司代理", "retail company"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Group(_Frozen):
    zh: str
    en: str


class Feature(_Frozen):
    """One feature as users see it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    group: str
    unit: Unit
    direction: Literal[-1, 0, 1]
    zh: str
    en: str
    reason_zh: str
    reason_en: str
    point_in_time: bool = True
    peer_of: str | None = None  # this feature less its industry's median at the same snapshot

    @property
    def categorical(self) -> bool:
        return self.unit == "category"

    def reason(self, value: object, lang: Lang) -> str:
        template = self.reason_zh if lang == "zh" else self.reason_en
        return template.format(value=format_value(value, self.unit, lang))


class Catalogue(_Frozen):
    """All features, their groups and the work-order time limits."""

    groups: dict[str, Group]
    order_time_limits_days: dict[str, float]
    features: tuple[Feature, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature names: {', '.join(duplicates)}")
        unknown = sorted({f.group for f in self.features} - set(self.groups))
        if unknown:
            raise ValueError(f"features name unknown groups: {', '.join(unknown)}")
        for feature in self.features:
            if feature.peer_of is not None and feature.peer_of not in names:
                raise ValueError(f"{feature.name}: peer_of names no feature: {feature.peer_of}")
        for feature in self.features:
            for template in (feature.reason_zh, feature.reason_en):
                try:
                    template.format(value="x")
                except (KeyError, IndexError, ValueError) as err:
                    raise ValueError(
                        f"{feature.name}: reason template {template!r} may only use {{value}}"
                    ) from err
        return self

    @cached_property
    def by_name(self) -> dict[str, Feature]:
        return {f.name: f for f in self.features}

    def names(self, group: str | None = None, point_in_time_only: bool = False) -> list[str]:
        return [
            f.name
            for f in self.features
            if (group is None or f.group == group) and (f.point_in_time or not point_in_time_only)
        ]

    def group_of(self, name: str) -> str:
        return self.by_name[name].group


class CatalogueError(ConfigFileError):
    """The catalogue file is missing or breaks its rules; the message names file and field."""


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate the catalogue (default: the RETENTION_CATALOGUE setting, else the
    packaged one)."""
    try:
        return load_yaml_model(path or Settings().catalogue_file, Catalogue, "feature catalogue")
    except ConfigFileError as err:
        raise CatalogueError(str(err)) from err


def format_value(value: object, unit: str, lang: Lang) -> str:
    """An account's value written for a manager, e.g. -0.42 as a change: 下降 42% / down 42%."""
    zh = lang == "zh"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "无数据" if zh else "no data"
    if unit == "category":
        words = CATEGORY_WORDS.get(str(value))
        return (words[0] if zh else words[1]) if words else str(value)
    if unit == "flag":
        yes = bool(value)
        return ("是" if yes else "否") if zh else ("yes" if yes else "no")
    x = float(value)  # type: ignore[arg-type]
    if unit == "change":
        pct = round(abs(x) * 100)
        if pct == 0:
            return "基本持平" if zh else "flat"
        if zh:
            return f"{'下降' if x < 0 else '上升'} {pct}%"
        return f"{'down' if x < 0 else 'up'} {pct}%"
    if unit == "points":
        pts = round(abs(x) * 100, 1)
        if zh:
            return f"{'下降' if x < 0 else '上升'} {pts:g} 个百分点"
        return f"{'down' if x < 0 else 'up'} {pts:g} points"
    if unit == "gap_points":
        pts = round(abs(x) * 100, 1)
        if zh:
            return f"{'低' if x < 0 else '高'} {pts:g} 个百分点"
        return f"{pts:g} points {'below' if x < 0 else 'above'}"
    if unit == "share":
        return f"{x * 100:.0f}%"
    if unit == "ratio":
        return f"{x:.2f}"
    if unit in ("count", "months"):
        return f"{x:.0f}"
    if unit == "days":
        return f"{x:.0f} 天" if zh else f"{x:.0f} days"
    if unit == "hours":
        return f"{x:.1f} 小时" if zh else f"{x:.1f} hours"
    if unit == "years":
        return f"{x:.1f} 年" if zh else f"{x:.1f} years"
    if unit == "cny":
        return f"{x / 10_000:,.1f} 万元" if zh else f"CNY {x:,.0f}"
    if unit == "kwh":
        return f"{x / 10_000:,.1f} 万千瓦时" if zh else f"{x / 1000:,.0f} MWh"
    if unit == "kva":
        return f"{x:,.0f} 千伏安" if zh else f"{x:,.0f} kVA"
    if unit == "kv":
        return f"{x:g} 千伏" if zh else f"{x:g} kV"
    if unit == "price":
        return f"{x:.3f} 元/千瓦时" if zh else f"CNY {x:.3f}/kWh"
    if unit == "score":
        return f"{x:.1f} 分" if zh else f"{x:.1f} of 5"
    raise ValueError(f"unknown unit {unit!r}")
