"""A seeded simulator of a provincial key-account portfolio, written in the data contract.

`simulate(config)` returns the contract's tables and, apart, the hidden truth:

- `churn_events`: every churn event (customer_id, event_date, churn_type), dated as
  docs/data-contract.md defines it: closure at close_date, capacity loss at the completion of the
  reduction or the start of the suspension, volume loss on the first day of the third
  consecutive month below half of the same month a year earlier.
- `churn_probability`: the oracle. For every account active at a monthly snapshot T (the first
  day of a month), the probability of churn in [T, T + 6 months) given its hidden state in the
  month before T, computed exactly from the hidden Markov chain (see `process`): the chain's
  future transitions, including the business cycle of the account's industry, are known to the
  simulator, the future random draws are not. No model that sees only the data can do better
  on average.
- `accounts`: each account's hidden traits (churn driver, signal visibility, frailty).
- `application_withdrawal` and `applicants`: the connection applicants' oracle (P(withdraw
  within 3 months) at each monthly snapshot an application is open) and hidden traits.

How the world works is in `profiles` (industries, regions, tariffs, calendar), `portfolio`
(static traits), `process` (the hidden chain and the oracle), `engine` (the monthly loop) and
`applicants` (the connection applications, their steps and withdrawals, in their own random
stream, so the engine's tables stay as they were but for the linked orders' applied_at).
Only tests and evaluation may read the truth; the product never does.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention.data.contract import LATEST, MARKET_MODES
from retention.data.simulator import applicants, bills, campaigns, engine, process, variants
from retention.data.simulator.portfolio import TARIFFS, draw_portfolio
from retention.data.simulator.profiles import DRIVERS, INDUSTRIES, REGIONS
from retention.data.simulator.scenarios import Scenario
from retention.data.tariff_tables import load_tariffs
from retention.data.writing import replace_folder

if TYPE_CHECKING:
    from rich.console import Console

TRUTH_DIR = "_truth"
ORACLE_HORIZON = 6
# The months simulated data may cover. The engine counts days and seconds from 1970 and marks
# a missing time with -1, so its data start in 1971 (connection orders are applied up to 150
# days before an account opens); the month after the data, when the last bills fall due, is
# at the latest the contract's last month (LATEST, 2100-12).
FIRST_START = np.datetime64("1971-01", "M")
LAST_EXTRACT = np.datetime64(f"{LATEST.year}-12", "M")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. The same config (seed included) gives the same dataset."""

    accounts: int = 3000
    months: int = 36
    start: str = "2023-11"
    seed: int = 20261129
    burn_in_months: int = 12
    new_account_share: float = 0.08
    scenarios: tuple[Scenario, ...] = ()  # shifts from a given month (scenarios.py)
    variant: str = "base"  # the hidden process's mechanism (variants.py)
    # Past retention campaigns with known effects (campaigns.py); None: no follow-ups at all.
    campaigns: campaigns.CampaignPolicy | None = None
    tariffs: Path | None = None  # the tariff tables the bills are made by; None: the packaged

    def __post_init__(self) -> None:
        variants.get(self.variant)  # a ValueError names the choices
        if self.accounts < 10:
            raise ValueError("accounts must be at least 10")
        if not 13 <= self.months <= 240:
            raise ValueError("months must be between 13 and 240")
        if self.campaigns is not None and self.campaigns.from_month >= self.months:
            raise ValueError("campaigns must start (from_month) before the last month of data")
        try:
            first = np.datetime64(self.start, "M")
        except ValueError as err:
            raise ValueError(f"start must be a month YYYY-MM, got {self.start!r}") from err
        earliest, latest = FIRST_START, LAST_EXTRACT - self.months
        if not earliest <= first <= latest:
            raise ValueError(
                f"start must be a month from {earliest} to {latest} for {self.months} months "
                f"of data (the simulator counts time from 1970, and the last bills must fall "
                f"due by {LAST_EXTRACT}), got {self.start!r}"
            )

    @property
    def start_month(self) -> np.datetime64:
        return np.datetime64(self.start, "M")

    @property
    def extract_date(self) -> pd.Timestamp:
        """The first day after the data: the default scoring snapshot."""
        return pd.Timestamp(str(self.start_month + self.months) + "-01")


@dataclass
class SimulationResult:
    """The dataset (contract tables) and, apart, the hidden truth."""

    config: SimulationConfig
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]


@dataclass
class SimulationSummary:
    """What a person wants to know after a simulation."""

    config: SimulationConfig
    folder: Path | None
    rows: dict[str, int]
    events_by_type: dict[str, int]
    churn_rate_6m: float
    files: list[Path] = field(default_factory=list)
    applications_by_status: dict[str, int] = field(default_factory=dict)

    def print(self, console: Console) -> None:
        from rich.table import Table

        c = self.config
        table = Table(title="模拟大客户数据 / Simulated key-account portfolio", show_header=False)
        table.add_row("账户数 / accounts", f"{c.accounts:,}")
        last = c.start_month + c.months - 1
        table.add_row("月份 / months", f"{c.months} ({c.start} .. {last})")
        table.add_row("随机种子 / seed", str(c.seed))
        if c.variant != variants.BASE.name:
            v = variants.get(c.variant)
            table.add_row("流失机制 / variant", f"{v.name}: {v.zh} / {v.en}")
        for name, count in self.rows.items():
            table.add_row(f"行数 / rows: {name}", f"{count:,}")
        names = {"closure": "销户", "capacity_loss": "减容/暂停", "volume_loss": "电量流失"}
        for kind, count in self.events_by_type.items():
            table.add_row(f"流失事件 / churn: {names.get(kind, kind)} {kind}", f"{count:,}")
        table.add_row("6 个月流失率 / 6-month churn rate", f"{self.churn_rate_6m:.1%}")
        statuses = {"open": "办理中", "connected": "已接电", "withdrawn": "已撤销"}
        for status, count in self.applications_by_status.items():
            label = f"业扩申请 / applications: {statuses.get(status, status)} {status}"
            table.add_row(label, f"{count:,}")
        if self.folder is not None:
            table.add_row("数据目录 / dataset", str(self.folder))
            table.add_row("真值(仅评估用) / truth (evaluation only)", str(self.folder / TRUTH_DIR))
        console.print(table)


def simulate(config: SimulationConfig, on_month: object = None) -> SimulationResult:
    """Run the simulator in memory."""
    portfolio, outcome = _run_engine(config, on_month)
    sudden = variants.sudden_accounts(variants.get(config.variant), config.accounts, config.seed)
    tables, applicant_truth = _tables(config, portfolio, outcome)
    truth = {
        "churn_events": _events(portfolio, outcome),
        "churn_probability": _oracle(config, portfolio, outcome),
        "accounts": pd.DataFrame(
            {
                "customer_id": pd.array(portfolio.customer_id, dtype="str"),
                "driver": np.where(sudden, "sudden", np.array(DRIVERS)[portfolio.driver]),
                "visibility": portfolio.visibility,
                "frailty": portfolio.frailty,
            }
        ),
        **applicant_truth,
        **_campaign_truth(config, portfolio, outcome),
    }
    return SimulationResult(config=config, tables=tables, truth=truth)


def _run_engine(
    config: SimulationConfig, on_month: object = None
) -> tuple[engine.Portfolio, engine.Outcome]:
    """The portfolio (as the variant shows it) and the engine's months, from the seed's own
    stream."""
    rng = np.random.default_rng(config.seed)
    variant = variants.get(config.variant)
    drawn = draw_portfolio(
        config.accounts, config.start_month, config.months, config.new_account_share, rng
    )
    sudden = variants.sudden_accounts(variant, config.accounts, config.seed)
    portfolio = variants.portfolio(drawn, variant, sudden)
    outcome = engine.run(
        portfolio,
        config.start_month,
        config.months,
        config.burn_in_months,
        rng,
        on_month=on_month if callable(on_month) else None,
        scenarios=config.scenarios,
        variant=variant,
        sudden=sudden,
        campaign_policy=config.campaigns,
        seed=config.seed,
        tariffs=None if config.tariffs is None else load_tariffs(config.tariffs),
    )
    return portfolio, outcome


def _campaign_truth(
    config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome
) -> dict[str, pd.DataFrame]:
    """The campaigns' truth: every assignment and every action's effect at every snapshot."""
    if o.campaign is None:
        return {}
    return {
        "campaign_assignments": campaigns.assignments_table(o.campaign, config.start_month),
        "action_effects": campaigns.effects_table(
            o.campaign, o.states, lambda m: _active(config, o, m), config.start_month
        ),
    }


def _active(config: SimulationConfig, o: engine.Outcome, m: int) -> np.ndarray:
    """Accounts active at the snapshot T_m: open before it, not churned, not closed."""
    snapshot_day = (config.start_month + m).astype("datetime64[D]").astype(np.int64)
    active = (o.open_day < snapshot_day) & (o.states[m - 1] != process.C)
    return active & (o.closed_day >= snapshot_day)


def simulate_to_folder(
    config: SimulationConfig,
    folder: Path,
    fmt: str = "parquet",
    console: Console | None = None,
    partitions: int | None = None,
) -> SimulationSummary:
    """Simulate with a progress bar and write the dataset and its truth to a folder
    (with `partitions`, as a partitioned Parquet dataset: data/partitioned.py)."""
    from rich.progress import Progress

    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, got {fmt!r}")
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("模拟中 / simulating", total=config.months + config.burn_in_months)
        result = simulate(config, on_month=lambda: progress.advance(task))
        progress.update(task, completed=config.months + config.burn_in_months)
        progress.add_task("写入 / writing", total=None)
        files = write_result(result, folder, fmt, partitions)
    return summarise(result, folder.resolve(), files)


def write_result(
    result: SimulationResult, folder: Path, fmt: str = "parquet", partitions: int | None = None
) -> list[Path]:
    """Write the dataset and, under _truth/, the hidden truth; all or nothing. With
    `partitions` the tables are a partitioned Parquet dataset of that many parts."""
    from retention.data.partitioned import write_partitioned
    from retention.data.writing import write_dataset

    folder = folder.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and swap in at the end: a killed run leaves no half dataset.
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        if partitions:
            if fmt != "parquet":
                raise ValueError("a partitioned dataset is Parquet only")
            write_partitioned(result.tables, staging, partitions)
        else:
            write_dataset(result.tables, staging, fmt=fmt)
        (staging / TRUTH_DIR).mkdir()
        for name, frame in result.truth.items():
            frame.to_parquet(staging / TRUTH_DIR / f"{name}.parquet", index=False)
        replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(path for path in folder.rglob("*") if path.is_file())


def summarise(
    result: SimulationResult, folder: Path | None = None, files: list[Path] | None = None
) -> SimulationSummary:
    events = result.truth["churn_events"]
    oracle = result.truth["churn_probability"]
    return SimulationSummary(
        config=result.config,
        folder=folder,
        rows={name: len(frame) for name, frame in result.tables.items()},
        events_by_type={
            kind: int((events["churn_type"] == kind).sum())
            for kind in ("closure", "capacity_loss", "volume_loss")
        },
        churn_rate_6m=float(oracle["probability"].mean()) if len(oracle) else float("nan"),
        files=files or [],
        applications_by_status=_by_status(result.tables.get("applications")),
    )


def _by_status(applications: pd.DataFrame | None) -> dict[str, int]:
    if applications is None:
        return {}
    return {s: int((applications["status"] == s).sum()) for s in applicants.STATUSES}


def _days(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype("datetime64[D]")


def _seconds(values: np.ndarray) -> pd.Series:
    """Seconds since the epoch, -1 for missing, as naive timestamps."""
    out = pd.Series(np.asarray(values, dtype=np.int64).astype("datetime64[s]")).astype(
        "datetime64[us]"
    )
    return out.where(np.asarray(values) >= 0)


def _tables(
    config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The contract's tables, the applicants' included, and the applicants' truth."""
    frames = _engine_tables(config, p, o)
    changed, truth = applicants.simulate_applicants(
        config.seed,
        config.start_month,
        config.months,
        frames["customers"],
        frames["work_orders"],
        p.region,
    )
    frames.update(changed)
    if o.campaign is not None:
        frames["interventions"] = campaigns.interventions_table(
            o.campaign, o.states, config.start_month
        )
    return frames, truth


def _engine_tables(
    config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome
) -> dict[str, pd.DataFrame]:
    """The tables the engine writes, before the applicants link their work orders."""
    work_orders, capacity = _work_orders(config, p, o)
    usage, billing = _monthly(config, p, o)
    frames = {
        "customers": _customers(config, p, o, capacity),
        "monthly_usage": usage.sort_values(["customer_id", "month"], kind="stable"),
        "monthly_billing": billing.sort_values(["customer_id", "month"], kind="stable"),
        "service_tickets": _service_tickets(p, o),
        "work_orders": work_orders,
        "outages": _outages(p, o),
    }
    for _name, frame in frames.items():
        frame.reset_index(drop=True, inplace=True)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].astype("str")
    return frames


def _work_orders(
    config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome
) -> tuple[pd.DataFrame, np.ndarray]:
    """The work orders applied before the extract, and the capacity their completions leave."""
    ids = p.customer_id
    extract_s = int(config.extract_date.value // 1_000_000_000)
    orders = o.orders
    kinds = np.array(engine.ORDER_TYPES, dtype=object)[orders["kind"]]
    completed = orders["completed"]
    done = (completed >= 0) & (completed < extract_s) & ~orders["cancelled"]
    status = np.where(orders["cancelled"], "cancelled", np.where(done, "completed", "open"))
    keep = orders["applied"] < extract_s
    change = np.where(
        np.isin(kinds, ["new_connection", "capacity_increase", "capacity_reduction"]),
        orders["change"],
        0.0,
    )
    order_frame = pd.DataFrame(
        {
            "customer_id": ids[orders["who"]],
            "order_type": kinds,
            "applied_at": _seconds(orders["applied"]),
            "completed_at": _seconds(np.where(done, completed, -1)),
            "capacity_change_kva": change,
            "status": status,
        }
    )[keep].sort_values("applied_at", kind="stable")
    order_frame.insert(0, "order_id", [f"YK{i:09d}" for i in range(1, len(order_frame) + 1)])

    # The archive's capacity is what the completed orders leave (the contract's capacity at T
    # is this minus the changes completed on or after T).
    capacity = o.capacity_start.copy()
    applied_change = done & keep & np.isin(kinds, ["capacity_increase", "capacity_reduction"])
    np.add.at(capacity, orders["who"][applied_change], change[applied_change])
    return order_frame, capacity


def _customers(
    config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome, capacity: np.ndarray
) -> pd.DataFrame:
    """The customer archive as of the extract."""
    extract_day = np.int64(config.extract_date.value // 86_400_000_000_000)
    closed = o.closed_day < extract_day
    return pd.DataFrame(
        {
            "customer_id": p.customer_id,
            "customer_name": p.customer_name,
            "industry_code": np.array([ind.code for ind in INDUSTRIES])[p.industry],
            "region": np.array([name for name, _, _ in REGIONS])[p.region],
            "voltage_kv": p.voltage_kv,
            "contract_capacity_kva": capacity,
            "tariff_category": np.array(TARIFFS)[p.tariff],
            "market_mode": np.array(MARKET_MODES)[o.market],
            "account_manager_id": pd.array(p.manager_id, dtype="str"),
            "open_date": pd.Series(p.open_day.astype("datetime64[us]")),
            "close_date": pd.Series(
                _days(np.where(closed, o.closed_day, 0)).astype("datetime64[us]")
            ).where(closed),
            "self_generation_kw": np.round(o.self_generation_kw, 1),
            "basic_charge_mode": bills.basic_charge_modes(p),
        }
    )


def _monthly(
    config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly meter readings and bills, in the order the loop wrote them."""
    ids = p.customer_id
    months = (config.start_month + np.arange(config.months)).astype("datetime64[D]")
    u = o.usage
    usage = pd.DataFrame(
        {
            "customer_id": ids[u["who"]],
            "month": pd.Series(months[u["t"]].astype("datetime64[us]")),
            "kwh_total": u["kwh_total"],
            "kwh_peak": u["kwh_peak"],
            "kwh_flat": u["kwh_flat"],
            "kwh_valley": u["kwh_valley"],
            "max_demand_kw": u["max_demand_kw"],
            "power_factor": u["power_factor"],
        }
    )
    b = o.billing
    billing = pd.DataFrame(
        {
            "customer_id": ids[b["who"]],
            "month": pd.Series(months[b["t"]].astype("datetime64[us]")),
            "amount_due_cny": b["amount_due_cny"],
            "amount_paid_cny": b["amount_paid_cny"],
            "due_date": pd.Series(_days(b["due_day"]).astype("datetime64[us]")),
            "paid_date": pd.Series(
                _days(np.maximum(b["paid_day"], 0)).astype("datetime64[us]")
            ).where(b["paid_day"] >= 0),
        }
    )
    return usage, billing


def _service_tickets(p: engine.Portfolio, o: engine.Outcome) -> pd.DataFrame:
    """Tickets in the order they were opened, numbered in that order."""
    ids = p.customer_id
    tk = o.tickets
    order = np.argsort(tk["opened"], kind="stable")
    tickets = pd.DataFrame(
        {
            "customer_id": ids[tk["who"][order]],
            "opened_at": _seconds(tk["opened"][order]),
            "closed_at": _seconds(tk["closed"][order]),
            "channel": np.array(engine.CHANNELS, dtype=object)[tk["channel"][order]],
            "category": np.array(engine.CATEGORIES, dtype=object)[tk["category"][order]],
            "satisfaction": pd.array(
                np.where(tk["satisfaction"][order] > 0, tk["satisfaction"][order], 0),
                dtype="Int64",
            ),
            "sla_met": pd.array(tk["sla"][order] == 1, dtype="boolean"),
        }
    )
    tickets.loc[tk["satisfaction"][order] <= 0, "satisfaction"] = pd.NA
    tickets.loc[tk["sla"][order] < 0, "sla_met"] = pd.NA
    tickets.insert(0, "ticket_id", [f"GD{i:010d}" for i in range(1, len(tickets) + 1)])
    return tickets


def _outages(p: engine.Portfolio, o: engine.Outcome) -> pd.DataFrame:
    """Outages in the order they started."""
    out = o.outages
    order = np.argsort(out["start"], kind="stable")
    return pd.DataFrame(
        {
            "customer_id": p.customer_id[out["who"][order]],
            "start_at": _seconds(out["start"][order]),
            "end_at": _seconds(out["end"][order]),
            "planned": pd.array(out["planned"][order], dtype="boolean"),
        }
    )


def _events(p: engine.Portfolio, o: engine.Outcome) -> pd.DataFrame:
    e = o.events
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(p.customer_id[e["who"]], dtype="str"),
            "event_date": pd.Series(_days(e["day"]).astype("datetime64[us]")),
            "churn_type": pd.array(e["type"].astype(str), dtype="str"),
        }
    )
    return frame.sort_values(["event_date", "customer_id"], kind="stable").reset_index(drop=True)


def _oracle(config: SimulationConfig, p: engine.Portfolio, o: engine.Outcome) -> pd.DataFrame:
    """P(churn in [T, T+6)) for every account active at every monthly snapshot T."""
    horizon = ORACLE_HORIZON
    cache: dict[int, np.ndarray] = {}

    def matrix(k: int) -> np.ndarray:
        if k not in cache:
            cache[k] = process.transition_matrix(
                o.rates,
                engine.hazard_cycle(k, p.industry, o.cycle_phase),
                volume_possible=k >= engine.VOLUME_LOSS_FROM,
            )
        return cache[k]

    parts = []
    for m in range(1, config.months + 1):
        before = o.states[m - 1].astype(np.int64)
        idx = np.flatnonzero(_active(config, o, m))
        if o.campaign is not None:  # with the effects of the follow-ups decided before T
            prob = o.campaign.churn_within(m, idx, before[idx])
        else:
            mats = [matrix(k)[idx] for k in range(m, m + horizon)]
            for k in [k for k in cache if k < m]:
                del cache[k]
            prob = process.churn_within(before[idx], mats)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": p.customer_id[idx],
                    "snapshot_date": pd.Timestamp(str(config.start_month + m) + "-01"),
                    "horizon_months": horizon,
                    "probability": prob,
                    "hidden_state": np.array(process.STATE_NAMES)[before[idx]],
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["customer_id"] = frame["customer_id"].astype("str")
    frame["hidden_state"] = frame["hidden_state"].astype("str")
    return frame
