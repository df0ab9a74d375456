"""One account's tariff comparison on the console: the alternatives and their savings, the best
plan, and the recomputed bills beside the billed ones (a difference says the tables are not the
ones the account is billed by, and the savings are then indicative)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from retention.tariffs.calculator import TariffComparison
from retention.tariffs.tables import TariffTables

# A recomputed bill within this share of the billed one is taken as the same tariff (rounding,
# corrections billed with a month).
MATCHING_SHARE = 0.005
MODE_LABELS = {
    "capacity": ("按容量", "by capacity"),
    "demand": ("按最大需量", "by maximum demand"),
}


def _money(value: Any) -> str:
    return "—" if value is None or math.isnan(float(value)) else f"{float(value):,.2f}"


def plan_texts(plan: str, account: Any, shift: float) -> tuple[str, str]:
    """The plan in a manager's words, Chinese and English (the page shows one, the console
    both). `account`: a row of TariffComparison.accounts (or a mapping with its
    basic_charge_mode, other_mode, combined_mode and power_factor_standard)."""
    now, other = account["basic_charge_mode"], account["other_mode"]
    standard = account["power_factor_standard"]
    pf = "—" if standard is None or math.isnan(standard) else f"{standard:.2f}"
    share = f"{shift:.0%}"
    if plan == "current":
        zh, en = MODE_LABELS[now]
        return f"现行方案（基本电费{zh}计收）", f"current plan (basic charge {en})"
    if plan == "other_mode":
        if not isinstance(other, str):  # None, or NaN once in a frame: no basic charge
            return "基本电费改变计收方式", "the other basic-charge mode"
        zh, en = _mode_texts(account, "other_mode_months", other)
        return f"基本电费{zh}", f"basic charge {en}"
    if plan == "pf_standard":
        return f"功率因数提高到考核标准 {pf}", f"power factor raised to its standard {pf}"
    if plan == "shift":
        return f"{share} 峰段电量移至谷段", f"{share} of peak energy moved to valley"
    zh, en = MODE_LABELS[account["combined_mode"]]
    if isinstance(other, str) and _in_some_months(account, "combined_other_months"):
        zh, en = _mode_texts(account, "combined_other_months", other)
    return (
        f"组合方案（基本电费{zh}、功率因数 {pf}、移峰 {share}）",
        f"combination (basic charge {en}, power factor {pf}, {share} peak to valley)",
    )


def _in_some_months(account: Any, column: str) -> bool:
    """Whether a plan takes the other basic-charge mode in some of its months, not all."""
    taken = account.get(column)  # None: an offer stored before the periods
    return taken is not None and 0 < int(taken) < int(account["months"])


def _mode_texts(account: Any, column: str, other: str) -> tuple[str, str]:
    """The basic-charge mode a plan takes: the other one in all its months, in none (the
    current mode is the cheaper in every period), or in some, chosen period by period."""
    zh, en = MODE_LABELS[other]
    now_zh, now_en = MODE_LABELS[account["basic_charge_mode"]]
    months, taken = int(account["months"]), account.get(column)
    if taken is None or int(taken) >= months:  # None: an offer stored before the periods
        return f"改为{zh}计收", en
    if int(taken) == 0:
        return f"{now_zh}计收（改为{zh}计收不更省）", f"{now_en} ({en} saves nothing)"
    every = int(account["switch_every_months"])
    return (
        f"每 {every} 个月择优：{int(taken)} 个月{zh}、其余{now_zh}计收",
        f"chosen every {every} months: {en} in {int(taken)} of {months} months, else {now_en}",
    )


def plan_label(plan: str, account: Any, shift: float) -> str:
    """The plan in a manager's words, Chinese first with English beside."""
    zh, en = plan_texts(plan, account, shift)
    # a closing full-width bracket already separates: no space before the slash
    return f"{zh}{'' if zh.endswith('）') else ' '}/ {en}"


def _plans_table(account: pd.Series, shift: float, switch_every: int | None) -> Table:
    table = Table(title="可选方案（近 12 个月）/ The alternatives over the last 12 months")
    table.add_column("方案 / plan")
    table.add_column("电费 / bill (元)", justify="right")
    table.add_column("节省 / saving (元)", justify="right")
    table.add_row(plan_label("current", account, shift), _money(account["bill_current"]), "")
    for plan in ("other_mode", "pf_standard", "shift", "combined"):
        saving = account[f"saving_{plan}"]
        label = plan_label(plan, account, shift)
        if plan == "other_mode" and switch_every:
            label += (
                f"\n  可每 {switch_every} 个月变更一次 / may change every {switch_every} months"
            )
        shown = "不适用 / not open" if math.isnan(saving) else _money(saving)
        table.add_row(label, _money(account[f"bill_{plan}"]), shown)
    return table


def _basic(amount: Any, share: Any) -> str:
    """The month's basic charge; in a month of suspension (暂停), the share of it charged."""
    if share < 1:
        return f"{_money(amount)}\n(暂停 / suspended: 计 / charged {share:.0%})"
    return _money(amount)


def _months_table(months: pd.DataFrame) -> Table:
    table = Table(title="逐月核对 / Month by month")
    for heading in (
        "月份 / month", "电度电费 / energy", "基本电费 / basic", "力调 / PF adj. %",
        "重算 / recomputed", "账单 / billed", "差额 / difference",
    ):  # fmt: skip
        table.add_column(heading, justify="right")
    for row in months.itertuples():
        table.add_row(
            f"{row.month:%Y-%m}",
            _money(row.energy_cny),
            _basic(row.basic_charge_cny, row.basic_charge_share),
            f"{row.power_factor_percent:+.2f}",
            _money(row.bill_current),
            _money(row.billed_cny),
            _money(row.difference_cny),
        )
    return table


def _check_lines(account: pd.Series) -> list[str]:
    """The recomputed bills against the billed ones, and what a difference means."""
    recomputed, billed = account["recomputed_cny"], account["billed_cny"]
    lines = [
        f"核对 / check ({account['billed_months']} 个有账单的月份 / months billed): 按电价表重算 "
        f"/ recomputed from the tables {_money(recomputed)} 元; 实际账单 / billed "
        f"{_money(billed)} 元; 差额 / difference {_money(account['difference_cny'])} 元"
    ]
    if not account["billed_months"] or math.isnan(recomputed):
        lines.append(
            "[yellow]无法核对：缺少账单或无法按电价表重算（例如按需量计收但缺少最大需量）"
            " / cannot check: no bills, or a month the tables cannot price (by demand without "
            "a maximum demand reading)[/yellow]"
        )
        return lines
    share = (recomputed - billed) / billed if billed else math.inf
    if abs(share) > MATCHING_SHARE:
        lines.append(
            f"[yellow]重算电费与实际账单相差 {share:+.1%}：电价表不是该户实际执行的电价（示例电价表"
            f"尚未替换为本公司电价，或数据按另一份电价表计费）。各方案的节省按电价表计算，"
            f"仅供参考。/ The bills recomputed from the tables differ from the billed amounts by "
            f"{share:+.1%}: the tables are not the tariff this account is billed by (the example "
            f"tables not yet replaced by your company's, or data billed by other tables). The "
            f"savings are priced with the tables: treat them as indicative.[/yellow]"
        )
    else:
        lines.append("重算电费与实际账单一致 / the recomputed bills match the billed amounts")
    return lines


def print_comparison(
    console: Console, comparison: TariffComparison, customer_id: str, tables: TariffTables
) -> None:
    """Print one account's comparison (it must have months in the window)."""
    account: Any = comparison.accounts.loc[customer_id]
    company = tables.companies[account["company"]]
    last = comparison.end_month - pd.DateOffset(months=1)
    console.print(f"[bold]电价电费方案 / Tariff plan[/bold] — 户号 / account {customer_id}")
    console.print(
        f"电价表 / tariff tables: {tables.label.zh} / {tables.label.en} — {company.zh} / "
        f"{company.en}"
    )
    console.print(
        f"期间 / months: {comparison.first_month:%Y-%m} .. {last:%Y-%m} "
        f"({account['months']} 个月 / months)"
    )
    for line in _check_lines(account):  # before the savings: a wrong table shows first
        console.print(line)
    in_force = [e for e in company.basic_charge if e.valid_from <= f"{last:%Y-%m}"]
    switch = in_force[-1].switch_every_months if in_force else None
    console.print(_plans_table(account, comparison.shift, switch))
    if account["best_plan"] == "current":
        console.print(
            "最佳方案 / best plan: 现行方案已是最省 / the current plan is already the cheapest"
        )
    else:
        label = plan_label(account["best_plan"], account, comparison.shift)
        console.print(
            f"[bold green]最佳方案 / best plan: {label}，近 12 个月可节省 / would have saved "
            f"{_money(account['best_saving'])} 元[/bold green]"
        )
    console.print(
        "说明 / note: 移峰不计最大需量的下降，节省为下限 / moving energy off peak is priced "
        "without a lower maximum demand: the least it saves"
    )
    months = comparison.months[comparison.months["customer_id"] == customer_id]
    console.print(_months_table(months.sort_values("month")))
