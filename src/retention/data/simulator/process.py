"""The hidden risk process: a monthly Markov chain per account, and the oracle it implies.

States (during a month):
    H  healthy
    W  weakening: the first signs (softer consumption, inquiries about reductions, ...)
    L  leaving: strong signals; the account is deciding to go
    E  exit filed: a closure or large capacity-reduction application is open across a month end
    V1, V2  the load has left (first and second month below half of last year)
    C  churned (absorbing): the month of the churn event

Transitions depend on the account's static traits (industry, size, manager, market mode,
tenure, outage exposure, a hidden frailty) and, for H -> W, on the industry's business cycle in
that month. Some churn is a surprise: H and W can jump straight to C or V1, with no lead signal.
The variants (`variants`) change these probabilities: H -> L directly (short-lead), a sudden
exit from H as an account's only driver (no-lead), every hazard scaled (low-/high-churn).

The oracle: for an account in state s during month m-1, the probability that it churns in
months m .. m+h-1 (the snapshot T = first day of month m, horizon h) is the probability that
the chain, started in s, reaches C within h steps, using each future month's own transition
probabilities. It is computed exactly by backward recursion: u <- P_k u for k = m+h-1 .. m,
starting from u = indicator(C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

H, W, L, E, V1, V2, C = range(7)
N_STATES = 7
STATE_NAMES = ("H", "W", "L", "E", "V1", "V2", "C")

# Exit routes when an account leaves from L (or by surprise), by the churn type that follows.
CLOSURE, REDUCTION, SUSPENSION, VOLUME = range(4)
EXIT_ROUTES = ("closure", "capacity_reduction", "suspension", "volume_loss")
CHURN_TYPE_OF_ROUTE = ("closure", "capacity_loss", "capacity_loss", "volume_loss")
# Exit-route mix by hidden driver (decline, self_generation, service, price).
ROUTE_MIX = np.array(
    [
        [0.42, 0.22, 0.20, 0.16],  # decline: plant closes, shrinks or stops
        [0.05, 0.15, 0.00, 0.80],  # self_generation: the load moves behind the meter
        [0.45, 0.10, 0.05, 0.40],  # service: relocates or moves production elsewhere
        [0.35, 0.15, 0.10, 0.40],  # price: moves load to captive generation or elsewhere
    ]
)
# Share of closures and large reductions filed in the month before they complete (state E).
FILED_EARLY = np.array([0.5, 0.4, 0.0, 0.0])


@dataclass(frozen=True)
class Rates:
    """Monthly transition probabilities; the account-specific ones are arrays over accounts."""

    drift: np.ndarray  # H -> W before the business cycle
    weaken_to_leave: np.ndarray  # W -> L
    route_mix: np.ndarray  # (n, 4) exit route probabilities
    recover: float = 0.06  # W -> H
    steady: float = 0.05  # L -> W
    exit: float = 0.24  # L -> exit
    surprise_healthy: np.ndarray | float = 0.0012  # H -> exit with no lead signal
    surprise_weak: float = 0.004  # W -> exit
    leave_direct: np.ndarray | float = 0.0  # H -> L, skipping W (the short-lead variant)


def exit_mix(rates: Rates, volume_possible: bool) -> np.ndarray:
    """The exit-route mix; without a year of history a volume loss cannot be seen, so closes."""
    if volume_possible:
        return rates.route_mix
    mix = rates.route_mix.copy()
    mix[:, CLOSURE] += mix[:, VOLUME]
    mix[:, VOLUME] = 0.0
    return mix


def transition_matrix(rates: Rates, cycle: np.ndarray, volume_possible: bool = True) -> np.ndarray:
    """(n, 7, 7) transition probabilities for one month; `cycle` scales H -> W per account.

    `volume_possible` is False in the first year of data: a volume loss is defined against
    the same month a year earlier, so there the exit routes that would be one close instead.
    """
    n = rates.drift.shape[0]
    p = np.zeros((n, N_STATES, N_STATES))
    mix = exit_mix(rates, volume_possible)
    early = FILED_EARLY[None, :]

    def exit_row(row: int, prob: np.ndarray | float) -> None:
        prob = np.broadcast_to(prob, (n,))
        p[:, row, E] += prob * (mix * early).sum(axis=1)
        p[:, row, C] += prob * (mix[:, :3] * (1 - early[:, :3])).sum(axis=1)
        p[:, row, V1] += prob * mix[:, VOLUME]

    drift = np.minimum(rates.drift * cycle, 0.5)
    p[:, H, W] = drift
    if np.any(rates.leave_direct):  # the business cycle moves it as it moves the drift
        p[:, H, L] = np.minimum(rates.leave_direct * cycle, 0.5)
    exit_row(H, rates.surprise_healthy)
    p[:, W, H] = rates.recover
    p[:, W, L] = rates.weaken_to_leave
    exit_row(W, rates.surprise_weak)
    p[:, L, W] = rates.steady
    exit_row(L, rates.exit)
    p[:, E, C] = 1.0
    p[:, V1, V2] = 1.0
    p[:, V2, C] = 1.0
    p[:, C, C] = 1.0
    for row in (H, W, L):
        p[:, row, row] = 1.0 - p[:, row, :].sum(axis=1)
    return p


def step(state: np.ndarray, matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw next month's state of every account from its row of the transition matrix."""
    rows = matrix[np.arange(state.shape[0]), state]
    cumulative = np.cumsum(rows, axis=1)
    u = rng.random((state.shape[0], 1))
    return np.minimum((u > cumulative).sum(axis=1), N_STATES - 1)


def draw_route(
    previous: np.ndarray, new: np.ndarray, mix: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The exit route of accounts that just left (-1 elsewhere), consistent with the chain.

    A move to V1 is a volume loss; a move to E or C is a closure, reduction or suspension drawn
    from the mix conditioned on how it was filed (E: filed early; C: within the month).
    """
    route = np.full(new.shape[0], -1)
    route[new == V1] = VOLUME
    for target, weight in ((E, FILED_EARLY), (C, 1 - FILED_EARLY)):
        idx = np.flatnonzero((new == target) & (previous != E) & (previous != V2) & (previous != C))
        if idx.size == 0:
            continue
        w = mix[idx, :3] * weight[None, :3]
        w = w / w.sum(axis=1, keepdims=True)
        u = rng.random(idx.size)[:, None]
        route[idx] = np.minimum((u > np.cumsum(w, axis=1)).sum(axis=1), 2)
    return route


def churn_within(states_before: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """P(reach C within len(matrices) months) given each account's state in the month before."""
    n = states_before.shape[0]
    u = np.zeros((n, N_STATES))
    u[:, C] = 1.0
    for matrix in reversed(matrices):
        u = np.einsum("nij,nj->ni", matrix, u)
    return u[np.arange(n), states_before]
