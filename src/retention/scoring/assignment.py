"""Assignments that can be learned from (issue 17): the randomised window at the capacity edge.

The playbook's `assignment` block (serving/playbook.yaml) is the policy. When a batch is
scored, the accounts ranked just above and just below the team's cut (RETENTION_CAPACITY, the
high band's size) form the window: `edge_share` x capacity ranks either side of it. Each
eligible account there (listed, with at least one recommended action, and a churn probability
below `protect_probability`) is followed up with probability `follow_up_probability`, else held
out as the control group (对照组): no follow-up is due, its actions leave the batch, and its
assignment keeps the action it would have got. A followed-up account in the window gets one
action, so its effect can be told apart: the first recommended action its reasons point to
(not one of `general_actions`), or with probability `other_action_share` another of its
recommended actions, evenly. Every assignment records its probability (the propensity):
P(followed up) x P(this action | followed up), or P(held out).

Nobody at the top is withheld, by construction: the window starts below the first
(1 - edge_share) x capacity ranks (edge_share is at most 0.5), and an account at or above
`protect_probability` is never in it. The draw is seeded per batch (the policy's seed and
the snapshot date), so scoring the same snapshot again assigns the same accounts, and the
seed and each account's draw are stored for an audit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from retention.records.batch import ASSIGNMENT_COLUMNS, FOLLOWED_UP, HELD_OUT, ScoredList


class AssignmentPolicy(BaseModel):
    """How a batch randomises at the capacity edge (the playbook's `assignment` block)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # the window: this share of the capacity either side of the cut (at most half: the top
    # half of the team's capacity is always followed up)
    edge_share: float = Field(default=0.25, gt=0, le=0.5)
    follow_up_probability: float = Field(default=0.5, gt=0, lt=1)
    other_action_share: float = Field(default=0.0, ge=0, lt=1)
    # an account this likely to churn is never randomised, wherever it ranks
    protect_probability: float = Field(default=0.5, gt=0, le=1)
    # actions that go with any account (not what its reasons point to)
    general_actions: tuple[str, ...] = ("dedicated_manager",)
    seed: int = Field(default=17, ge=0, lt=10**9)

    def pointed(self, codes: list[str]) -> str | None:
        """The action an account's reasons point to among its recommended `codes` (in the
        playbook's order): the first that is not a general action, else the first; None
        when there is none. The edge's follow-ups are given it, and targeting's `on` is it."""
        found = [code for code in codes if code not in self.general_actions] or codes
        return found[0] if found else None


def batch_seed(policy: AssignmentPolicy, snapshot: pd.Timestamp) -> int:
    """The batch's seed: the policy's and the snapshot date (YYYYMMDD) side by side."""
    return policy.seed * 10**8 + int(f"{snapshot:%Y%m%d}")


def window(
    accounts: pd.DataFrame, actions: pd.DataFrame, capacity: int, policy: AssignmentPolicy
) -> pd.DataFrame:
    """The eligible accounts of the window, in rank order: listed, ranked within
    edge_share x capacity of the cut, with an action, below protect_probability."""
    band = max(1, round(policy.edge_share * capacity))
    rank = accounts["rank"].to_numpy(dtype=float)
    inside = (rank > capacity - band) & (rank <= capacity + band)
    safe = accounts["probability"].to_numpy(dtype=float) < policy.protect_probability
    with_action = accounts["customer_id"].isin(actions["customer_id"]).to_numpy()
    return accounts.loc[inside & safe & with_action].sort_values("rank", kind="stable")


def assign(scored: ScoredList, capacity: int, policy: AssignmentPolicy | None) -> ScoredList:
    """The scored list with its window's assignments and its actions as assigned (held-out
    accounts without actions, followed-up ones with their one action); unchanged, without
    assignments, when the policy is off."""
    if policy is None or not policy.enabled:
        return scored
    chosen = window(scored.accounts, scored.actions, capacity, policy)
    seed = batch_seed(policy, scored.snapshot)
    rng = np.random.default_rng(seed)
    n = len(chosen)
    # three draws per account, made up front in rank order: an audit replays them from the seed
    draw, other_draw, pick_draw = rng.random(n), rng.random(n), rng.random(n)
    followed = draw < policy.follow_up_probability
    by_account = {
        customer: list(group["code"])
        for customer, group in scored.actions.sort_values("position").groupby("customer_id")
    }
    # a list ranked by money saved put each account's best action first: that is its action
    targeted = scored.list_mode == "money_saved"
    codes, action_p = [], []
    for i, customer in enumerate(chosen["customer_id"]):
        code, p = _action(by_account[customer], policy, other_draw[i], pick_draw[i], targeted)
        codes.append(code)
        action_p.append(p if followed[i] else np.nan)
    p_follow = policy.follow_up_probability
    action_probability = np.array(action_p, dtype=float)
    rows = pd.DataFrame(
        {
            "customer_id": chosen["customer_id"].to_numpy(),
            "rank": chosen["rank"].to_numpy(dtype=np.int64),
            "assignment": np.where(followed, FOLLOWED_UP, HELD_OUT),
            "action_code": codes,
            "follow_up_probability": np.full(n, p_follow),
            "action_probability": action_probability,
            "assignment_probability": np.where(
                followed, p_follow * np.nan_to_num(action_probability), 1.0 - p_follow
            ),
            "draw": draw,
            "seed": np.full(n, seed, dtype=np.int64),
        }
    )[ASSIGNMENT_COLUMNS]
    return dataclasses.replace(scored, actions=_as_assigned(scored.actions, rows), assignments=rows)


def _action(
    codes: list[str],
    policy: AssignmentPolicy,
    other_draw: float,
    pick_draw: float,
    targeted: bool = False,
) -> tuple[str, float]:
    """The account's action if followed up, and its probability given a follow-up: the first
    its reasons point to, or, on a list ranked by money saved, its best (first) action."""
    default = codes[0] if targeted else policy.pointed(codes) or codes[0]
    others = [code for code in codes if code != default]
    if not others or policy.other_action_share == 0:
        return default, 1.0
    if other_draw >= policy.other_action_share:
        return default, 1.0 - policy.other_action_share
    return others[int(pick_draw * len(others))], policy.other_action_share / len(others)


def _as_assigned(actions: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The batch's actions: none for a held-out account (no follow-up is due), only the
    assigned one, first, for a followed-up account of the window; the rest as recommended."""
    assigned = dict(zip(rows["customer_id"], rows["action_code"], strict=True))
    held = set(rows.loc[rows["assignment"] == HELD_OUT, "customer_id"])
    customer = actions["customer_id"]
    in_window = customer.isin(assigned.keys()).to_numpy()
    keep = ~in_window | (
        ~customer.isin(held).to_numpy() & (actions["code"] == customer.map(assigned)).to_numpy()
    )
    out = actions.loc[keep].copy()
    out.loc[out["customer_id"].isin(assigned.keys()), "position"] = 1
    return out.reset_index(drop=True)
