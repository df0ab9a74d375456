"""Targeting by estimated effect against ranking by money at risk, on the simulator (issue 17,
must-show): at the same capacity per monthly snapshot of the test months, the true money each
policy saves.

Per seed: a portfolio with past campaigns; the effect models (training/effects.py) and a risk
model (LightGBM on every account's labelled snapshots) trained on the months before the test
months (the last `test_months` assignment months, as `retention effects`); then at each test
snapshot, among the accounts not followed up in the 6 months before it (one follow-up at a
time, as the team works), `--capacity` accounts are chosen by

  (a) money at risk: the risk model's churn probability x the expected 12-month revenue, with
      the playbook's action (the simulated team's: the action the account's visible reason
      points to, else a dedicated manager); `a_one` is the same list with the single action
      whose estimated mean effect is the largest, and the baseline is the better of the two;
  (b) estimated money saved: each account's best modelled action by estimated effect x
      revenue (scoring/targeting.py's risk_scaled_averted, best_actions and select: what
      `retention score` ranks by in money-saved mode), the estimated effect being the risk
      model's probability x the action's relative reduction from the randomised outcomes, on
      the playbook's action or off it; an action whose reduction is not positive is not
      estimated, and the capacity it leaves goes by money at risk (list (a_playbook)), as the
      product's list puts the accounts without an estimate after the chosen, by money at risk;
  (c) true money saved: the same with the true effects of every action (the oracle).

Money saved = sum over the chosen accounts of the true churn averted by the chosen action
(`_truth/action_effects`: contact made) x the account's expected 12-month revenue, in CNY.
`a_oracle_risk` is (a) ranked by the true untreated probability instead of the model's (the
best that ranking by money at risk can do); with `--ceiling`, `c_features` ranks by a model
of the true effects learned from the truth with the product's features (`feature_ceiling`:
the best any effect model of those features could do); `b_playbook` keeps the playbook's
action and ranks by its estimated money saved; `b_per_account` is (b) with the per-account
effect models (`EffectModels.averted`, the rule before: each account's own estimated effect x
revenue).
Printed per seed and the mean and sd over seeds.

Run: .venv/bin/python benchmarks/targeting.py [--accounts N] [--months M] [--seeds 1 2 3]
     [--capacity K] [--learner shared_base|t_learner] [--population] [--ceiling]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from retention.data.checks import validate_tables
from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, SimulationResult, simulate
from retention.data.simulator.campaigns import (
    ACTIONS,
    DRIVER_ACTION,
    GENERAL_ACTION,
    CampaignPolicy,
)
from retention.data.simulator.profiles import DRIVERS
from retention.features.catalogue import load_catalogue
from retention.features.snapshot import EXPECTED_REVENUE, build_training_set
from retention.model.artifact import category_levels, feature_matrix
from retention.records.batch import EFFECT_COLUMNS
from retention.scoring import targeting
from retention.settings import Settings
from retention.training import effects
from retention.training.config import LightGBMConfig
from retention.training.fit import fit_rounds

TIME, ID = effects.TIME, effects.ID
DEFAULT_ACCOUNTS = 3000  # the simulator's default portfolio, for which RETENTION_CAPACITY is set
RISK_ROUNDS = 300
POLICIES = ["saved_a", "saved_b", "saved_c", "b/a", "b/c", "b_per_account/a"]


@dataclass(frozen=True)
class Chosen:
    """A list: the rows chosen (positions in the snapshot's frame), best first, and the
    action each gets (a column of ACTIONS)."""

    account: np.ndarray
    action: np.ndarray


def choose_by_effect(effect: np.ndarray, revenue: np.ndarray, capacity: int) -> Chosen:
    """The product's list mode (scoring/targeting.py): each row's best known action (NaN:
    not modelled or not allowed) by effect x revenue, then the `capacity` rows saving most."""
    n, width = effect.shape
    long = pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(n).astype(str), width),
            "code": np.tile(np.asarray(ACTIONS, dtype=object), n),
            "churn_averted": effect.ravel(),
            "money_saved_cny": (effect * np.nan_to_num(revenue)[:, None]).ravel(),
        }
    )[EFFECT_COLUMNS]
    best = targeting.best_actions(long[np.isfinite(long["churn_averted"])])
    chosen = targeting.select(best, capacity)
    codes = best.loc[chosen, "code"].map({a: i for i, a in enumerate(ACTIONS)})
    return Chosen(np.asarray(chosen, dtype=int), codes.to_numpy(dtype=int))


def choose_by_risk(
    probability: np.ndarray, revenue: np.ndarray, action: np.ndarray, capacity: int
) -> Chosen:
    """Today's list: the `capacity` rows with the most money at risk (churn probability x
    revenue, as scoring ranks it), each with the action it is given; ties keep the order."""
    money = np.nan_to_num(probability * np.nan_to_num(revenue))
    order = np.argsort(-money, kind="stable")
    order = order[money[order] > 0][:capacity]
    return Chosen(order, np.asarray(action)[order])


def filled(chosen: Chosen, fallback: Chosen, capacity: int) -> Chosen:
    """`chosen`, then the `fallback` list's rows not in it up to `capacity`: the product's
    list in money-saved mode (scoring/targeting.py, rank_by_money_saved) visits the chosen
    accounts first, then the rest by money at risk."""
    rest = ~np.isin(fallback.account, chosen.account)
    room = max(0, capacity - len(chosen.account))
    account = np.concatenate([chosen.account, fallback.account[rest][:room]])
    action = np.concatenate([chosen.action, fallback.action[rest][:room]])
    return Chosen(account.astype(int), action.astype(int))


def money_saved(chosen: Chosen, true: np.ndarray, revenue: np.ndarray) -> float:
    """The true money a list saves: the true churn averted by each chosen row's action x its
    revenue (NaN effects save nothing)."""
    averted = true[chosen.account, chosen.action]
    return float(np.nansum(averted * revenue[chosen.account]))


@dataclass
class Snapshots:
    """The test snapshots' accounts: features, revenue, eligibility, true and estimated effects."""

    frame: pd.DataFrame
    true: np.ndarray  # (n, len(ACTIONS))
    estimated: np.ndarray  # (n, len(ACTIONS)), NaN for the actions not modelled: the rule's
    per_account: np.ndarray  # the same from the per-account models (EffectModels.averted)
    risk: np.ndarray
    oracle_risk: np.ndarray
    playbook: np.ndarray  # the playbook's action of every row (a column of ACTIONS)


def recently_followed(dataset: Dataset, frame: pd.DataFrame, months: int = 6) -> np.ndarray:
    """True for the rows whose account was followed up in the `months` before the snapshot."""
    iv = dataset.interventions
    if iv is None:
        return np.zeros(len(frame), dtype=bool)
    given = iv[iv["assignment"].astype("object").fillna("followed_up") == "followed_up"]
    log = pd.DataFrame(
        {
            ID: given["customer_id"].astype(str).to_numpy(),
            "at": pd.to_datetime(given["created_at"]).dt.to_period("M").dt.to_timestamp(),
        }
    )
    rows = frame[[TIME, ID]].reset_index(drop=True).reset_index(names="row")
    pairs = rows.merge(log, on=ID, how="inner")
    since = pairs[TIME] - pd.DateOffset(months=months)
    hit = pairs.loc[(pairs["at"] < pairs[TIME]) & (pairs["at"] >= since), "row"].unique()
    out = np.zeros(len(frame), dtype=bool)
    out[hit] = True
    return out


def true_effects(result: SimulationResult, frame: pd.DataFrame) -> np.ndarray:
    """(n, actions): the true effect of every simulated action for every row of `frame`."""
    truth = effects.as_truth(result.truth["action_effects"])
    wide = truth.pivot_table(index=[TIME, ID], columns=effects.ACTION, values="effect")
    keys = pd.MultiIndex.from_frame(frame[[TIME, ID]])
    return wide.reindex(index=keys, columns=list(ACTIONS)).to_numpy(dtype=float)


def oracle_probability(result: SimulationResult, frame: pd.DataFrame) -> np.ndarray:
    """The true untreated churn probability over the horizon of every row of `frame`."""
    p = result.truth["churn_probability"]
    p = p[p["horizon_months"] == 6].assign(**{TIME: lambda d: pd.to_datetime(d[TIME])})
    p = p.assign(**{ID: p[ID].astype(str)}).drop_duplicates([TIME, ID]).set_index([TIME, ID])
    return p["probability"].reindex(pd.MultiIndex.from_frame(frame[[TIME, ID]])).to_numpy(float)


def playbook_actions(result: SimulationResult, frame: pd.DataFrame, seed: int) -> np.ndarray:
    """The simulated team's action: the one the account's visible reason points to (shown
    with its signal's visibility), else a dedicated manager."""
    accounts = result.truth["accounts"].assign(customer_id=lambda d: d[ID].astype(str))
    traits = frame[[ID]].merge(accounts, on=ID, how="left")
    code = traits["driver"].map({d: i for i, d in enumerate(DRIVERS)}).to_numpy()
    shows = np.random.default_rng([seed, 99]).random(len(frame)) < traits["visibility"].to_numpy()
    driven = np.isfinite(code) & shows
    return np.where(driven, DRIVER_ACTION[np.nan_to_num(code).astype(int)], GENERAL_ACTION)


def risk_model(population: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """A LightGBM risk model of every account's labelled snapshots of the training months:
    its churn probability of the test rows (what ranking by money at risk sees)."""
    catalogue = load_catalogue()
    features = catalogue.names(point_in_time_only=True)
    categorical = [f for f in features if catalogue.by_name[f].categorical]
    levels = category_levels(population, categorical)
    matrix, label = feature_matrix(population, features, levels), population["churn"].to_numpy()
    no_constraints = [0] * len(features)
    booster = fit_rounds(
        matrix, label, features, categorical, no_constraints, LightGBMConfig(), RISK_ROUNDS
    )
    return np.asarray(booster.predict(feature_matrix(test, features, levels)))


def prepare(
    seed: int, accounts: int, months: int, config: effects.EffectsConfig, population: bool
) -> Snapshots:
    """Simulate, split out of time, fit the effect and risk models on the earlier months,
    and lay out the test snapshots' accounts."""
    result = simulate(
        SimulationConfig(accounts=accounts, months=months, seed=seed, campaigns=CampaignPolicy())
    )
    report = validate_tables(result.tables)
    assert report.dataset is not None
    dataset, catalogue = report.dataset, load_catalogue()
    rows = effects.assignment_rows(dataset, config, catalogue)
    train = effects.split_months(rows, config)
    test_from = rows.loc[~train, TIME].min()
    # The test months and the 12 before them: the risk model's rows and the test's.
    test_months = np.sort(rows.loc[~train, TIME].unique())
    months = pd.date_range(test_from - pd.DateOffset(months=12), test_months[-1], freq="MS")
    every = build_training_set(dataset, catalogue, config.churn, snapshots=months)
    every = every.reset_index()
    every[TIME] = every[TIME].astype("datetime64[ns]")
    every[ID] = every[ID].astype(str)
    past = every[every[TIME] < test_from]
    test = every[every[TIME].isin(test_months)].reset_index(drop=True)
    test = test[~recently_followed(dataset, test)].reset_index(drop=True)
    actions = [
        a for a in ACTIONS if int(((rows[effects.ACTION] == a) & rows[effects.TREATED]).sum())
        >= config.min_treated
    ]  # fmt: skip
    playbook = playbook_actions(result, test, seed)
    models = effects.fit_effect_models(
        rows[train], actions, config, catalogue, past if population else None
    )
    per_account = models.averted(test, actions).reindex(columns=list(ACTIONS)).to_numpy(float)
    risk = risk_model(past, test)
    # The list mode's rule: the risk x each action's relative reduction, on the playbook's
    # action or off it (scoring/targeting.py), for the actions with enough evidence.
    first = np.asarray(ACTIONS, dtype=object)[playbook]
    scaled = targeting.risk_scaled_averted(models, risk, first, actions)
    estimated = pd.DataFrame(scaled, columns=actions).reindex(columns=list(ACTIONS))
    return Snapshots(
        test,
        true_effects(result, test),
        estimated.to_numpy(dtype=float),
        per_account,
        risk,
        oracle_probability(result, test),
        playbook,
    )


def feature_ceiling(s: Snapshots) -> np.ndarray:
    """(n, actions): what the product's features can tell of the true effects at best: per
    action, a LightGBM regression of the true effect on the snapshot features, the risk
    model's probability and the playbook's action, fitted on the truth of half the accounts
    and predicting the other half, and back. Not an estimator (it learns from `_truth/`,
    about 10,000 noise-free account-snapshots a half): the ceiling of any effect model that
    reads these features, however much randomised evidence it had (`--ceiling`)."""
    catalogue = load_catalogue()
    features = catalogue.names(point_in_time_only=True)
    levels = category_levels(s.frame, [f for f in features if catalogue.by_name[f].categorical])
    playbook = (s.playbook[:, None] == np.arange(len(ACTIONS))).astype(float)
    matrix = np.column_stack([feature_matrix(s.frame, features, levels), s.risk, playbook])
    half = pd.util.hash_array(s.frame[ID].to_numpy(dtype=str)) % 2
    params = {"objective": "regression", "num_leaves": 31, "learning_rate": 0.05, "verbose": -1}
    out = np.full_like(s.true, np.nan)
    for j in range(len(ACTIONS)):
        known = np.isfinite(s.true[:, j])
        for part in (0, 1):
            fit = known & (half != part)
            data = lgb.Dataset(matrix[fit], s.true[fit, j])
            out[half == part, j] = lgb.train(params, data, 300).predict(matrix[half == part])
    return out


def _only(effect: np.ndarray, action: np.ndarray) -> np.ndarray:
    """The effects with every action but the given one of each row masked (NaN)."""
    out = np.full_like(effect, np.nan)
    rows = np.arange(len(effect))
    out[rows, action] = effect[rows, action]
    return out


def one_seed(seed: int, args: argparse.Namespace, config: effects.EffectsConfig) -> dict:
    """The three policies' true money saved at one seed, summed over the test snapshots."""
    began = time.perf_counter()
    s = prepare(seed, args.accounts, args.months, config, args.population)
    revenue = s.frame[EXPECTED_REVENUE].to_numpy(dtype=float)
    # The single action the models think best on average: today's alternative to the playbook.
    one = int(np.argmax(pd.DataFrame(s.estimated).mean().fillna(-np.inf).to_numpy()))
    names = ["a_playbook", "a_one", "a_oracle_risk", "b_per_account", "b_playbook", "saved_b"]
    names.append("saved_c")
    ceiling = feature_ceiling(s) if args.ceiling else None
    saved = dict.fromkeys(names + (["c_features"] if args.ceiling else []), 0.0)
    for _, group in s.frame.groupby(TIME, sort=True):
        i = group.index.to_numpy()
        k, true, rev = args.capacity, s.true[i], revenue[i]
        playbook = choose_by_risk(s.risk[i], rev, s.playbook[i], k)
        lists = {
            "a_playbook": playbook,
            "a_one": choose_by_risk(s.risk[i], rev, np.full(len(i), one), k),
            "a_oracle_risk": choose_by_risk(s.oracle_risk[i], rev, s.playbook[i], k),
            "b_per_account": choose_by_effect(s.per_account[i], rev, k),
            "b_playbook": choose_by_effect(_only(s.estimated[i], s.playbook[i]), rev, k),
            "saved_b": filled(choose_by_effect(s.estimated[i], rev, k), playbook, k),
            "saved_c": choose_by_effect(true, rev, k),
        }
        if ceiling is not None:
            lists["c_features"] = choose_by_effect(ceiling[i], rev, k)
        for name, chosen in lists.items():
            saved[name] += money_saved(chosen, true, rev)
    saved["saved_a"] = max(saved["a_playbook"], saved["a_one"])
    saved["b/a"] = saved["saved_b"] / saved["saved_a"]
    saved["b/c"] = saved["saved_b"] / saved["saved_c"]
    saved["b_per_account/a"] = saved["b_per_account"] / saved["saved_a"]
    if args.ceiling:
        saved["c_features/a"] = saved["c_features"] / saved["saved_a"]
    took = time.perf_counter() - began
    print(f"seed {seed}: {len(s.frame):,} account-snapshots in the test months, {took:.0f} s")
    if not np.isfinite(s.estimated).any():
        print("  证据不足 / no action with enough evidence and a positive reduction: (b) is (a)")
    return {"seed": seed, **saved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--capacity", type=int, default=None)
    parser.add_argument("--learner", choices=["shared_base", "t_learner"], default="shared_base")
    parser.add_argument("--population", action="store_true")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="add c_features: a model of the true effects from the features (feature_ceiling)",
    )
    args = parser.parse_args()
    if args.capacity is None:  # RETENTION_CAPACITY is set for the default portfolio
        args.capacity = max(1, round(Settings().capacity * args.accounts / DEFAULT_ACCOUNTS))
    config = effects.EffectsConfig(learner=args.learner)
    print(f"{args.accounts:,} accounts x {args.months} months, capacity {args.capacity} a month")
    table = pd.DataFrame([one_seed(seed, args, config) for seed in args.seeds]).set_index("seed")
    pd.set_option("display.width", 200)
    money = [c for c in table.columns if "/" not in c]
    shown = table.copy()
    shown[money] = (shown[money] / 1e6).round(2)  # million CNY
    print("true money saved over the test months, million CNY:")
    print(shown.round(3).to_string())
    print("\nmean and sd over seeds (saved: million CNY):")
    policies = POLICIES + (["c_features/a"] if args.ceiling else [])
    print(shown[policies].agg(["mean", "std"]).T.round(3).to_string())


if __name__ == "__main__":
    main()
