"""Targeting (issue 17, item 4): which accounts the team follows up, and with which action,
to save the most money within its capacity.

Money saved by following up an account with an action = the churn the action averts (its
effect, a probability) x the account's expected 12-month revenue: an action that averts 5
points on a 10-million account saves more than one that averts 20 points on a 1-million one.
Each account gets its best eligible action (the most money saved), and the capacity goes to
the accounts whose best saves most; an account whose best saves nothing (every effect <= 0)
is not chosen, so a list may be shorter than the capacity. The same selection ranks by money
at risk (probability x revenue, with a given action per account) for the comparison.

Pure functions of arrays (numpy only, no model, no store): the benchmark
(benchmarks/targeting.py) and the product's list mode choose by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Targets:
    """The chosen accounts, best first: row positions in the input, the column of the action
    each gets, and the money that ranked them (expected money saved, or money at risk)."""

    account: np.ndarray  # int, positions of the rows chosen
    action: np.ndarray  # int, the column of the chosen action for each chosen row
    money: np.ndarray  # float, the ranking's figure of each chosen row (CNY)


def best_actions(
    effect: np.ndarray, revenue: np.ndarray, eligible: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best eligible action (a column of `effect`, shape (n, actions)) and the money
    it saves (effect x revenue); -1 and 0 where no action is eligible or known (NaN effect)."""
    effect = np.asarray(effect, dtype=float)
    revenue = np.asarray(revenue, dtype=float)
    if effect.ndim != 2 or revenue.shape != (effect.shape[0],):
        raise ValueError("effect must be (n, actions) and revenue (n,)")
    saving = effect * np.nan_to_num(revenue, nan=0.0)[:, None]
    usable = np.isfinite(saving)
    if eligible is not None:
        if np.shape(eligible) != effect.shape:
            raise ValueError("eligible must have the shape of effect")
        usable &= np.asarray(eligible, dtype=bool)
    saving = np.where(usable, saving, -np.inf)
    if saving.shape[1] == 0:
        return np.full(len(saving), -1), np.zeros(len(saving))
    best = np.argmax(saving, axis=1)
    money = saving[np.arange(len(saving)), best]
    known = np.isfinite(money)
    return np.where(known, best, -1), np.where(known, money, 0.0)


def top_by(money: np.ndarray, action: np.ndarray, capacity: int) -> Targets:
    """The `capacity` rows with the most `money` above 0 and an action (>= 0), most first;
    ties keep the input order."""
    if capacity < 0:
        raise ValueError("capacity must be >= 0")
    money = np.nan_to_num(np.asarray(money, dtype=float), nan=0.0, neginf=0.0)
    action = np.asarray(action)
    order = np.argsort(-money, kind="stable")
    order = order[(money[order] > 0) & (action[order] >= 0)][:capacity]
    return Targets(order, action[order].astype(np.int64), money[order])


def choose_by_effect(
    effect: np.ndarray, revenue: np.ndarray, capacity: int, eligible: np.ndarray | None = None
) -> Targets:
    """The list mode: each account's best eligible action by money saved, then the `capacity`
    accounts saving the most (only those saving more than nothing)."""
    action, money = best_actions(effect, revenue, eligible)
    return top_by(money, action, capacity)


def choose_by_risk(
    probability: np.ndarray, revenue: np.ndarray, action: np.ndarray, capacity: int
) -> Targets:
    """Today's list: the `capacity` accounts with the most money at risk (churn probability x
    revenue), each with the action it is given (the playbook's; -1: none)."""
    money = np.asarray(probability, dtype=float) * np.nan_to_num(
        np.asarray(revenue, dtype=float), nan=0.0
    )
    return top_by(money, action, capacity)


def money_saved(targets: Targets, effect: np.ndarray, revenue: np.ndarray) -> float:
    """The money the chosen accounts and actions save by `effect` (n, actions): the true
    effects on the simulator, the estimated for the expected saving; NaN effects save 0."""
    if targets.account.size == 0:
        return 0.0
    chosen = np.asarray(effect, dtype=float)[targets.account, targets.action]
    return float(np.nansum(chosen * np.asarray(revenue, dtype=float)[targets.account]))
