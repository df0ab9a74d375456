"""Why an account is at risk, in the model's own terms and a manager's words.

LightGBM's per-row contributions (pred_contrib) add up, with the bias, to the raw score. They
are summed by feature group; the groups that raise risk most are the account's reasons, each
phrased by the catalogue's template for the group's strongest feature, with the account's own
value ("近 3 个月用电量同比下降 42%" / "consumption down 42% year on year...").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retention.features.catalogue import Catalogue
from retention.training.model import ChurnModel

TOP_REASONS = 3


@dataclass(frozen=True)
class Reason:
    """One reason: a feature group, its share of the raw score, and the account's own value."""

    rank: int
    group: str
    group_zh: str
    group_en: str
    contribution: float  # summed raw-score contribution of the group (log-odds)
    feature: str
    value: object
    text_zh: str
    text_en: str


@dataclass(frozen=True)
class Contributions:
    """Per-row contributions by feature (n, features) and the bias, for one matrix."""

    by_feature: np.ndarray
    bias: np.ndarray
    features: list[str]

    @property
    def raw_score(self) -> np.ndarray:
        return self.by_feature.sum(axis=1) + self.bias

    def by_group(self, groups: dict[str, str]) -> pd.DataFrame:
        """(n, groups) sums of the features' contributions per catalogue group."""
        frame = pd.DataFrame(self.by_feature, columns=self.features)
        names = [groups.get(f, "other") for f in self.features]
        return frame.T.groupby(names, sort=False).sum().T


def contributions(model: ChurnModel, matrix: np.ndarray) -> Contributions:
    values = model.contributions(matrix)
    return Contributions(
        by_feature=values[:, :-1], bias=values[:, -1], features=list(model.features)
    )


def top_reasons(
    frame: pd.DataFrame, parts: Contributions, catalogue: Catalogue, top: int = TOP_REASONS
) -> list[list[Reason]]:
    """Per row of `frame` (aligned with the contributions): its risk-raising reasons."""
    groups = {f.name: f.group for f in catalogue.features}
    by_group = parts.by_group(groups)
    feature_index = {name: i for i, name in enumerate(parts.features)}
    out: list[list[Reason]] = []
    group_values = by_group.to_numpy()
    group_names = list(by_group.columns)
    for row in range(len(frame)):
        order = np.argsort(-group_values[row], kind="stable")
        reasons: list[Reason] = []
        for position in order:
            value = float(group_values[row, position])
            if value <= 0 or len(reasons) == top:
                break  # only what raises risk is a reason
            group = group_names[position]
            members = [f for f in parts.features if groups.get(f) == group]
            strongest = max(members, key=lambda f: parts.by_feature[row, feature_index[f]])
            feature = catalogue.by_name[strongest]
            own = frame.iloc[row][strongest]
            meta = catalogue.groups[group]
            reasons.append(
                Reason(
                    rank=len(reasons) + 1,
                    group=group,
                    group_zh=meta.zh,
                    group_en=meta.en,
                    contribution=value,
                    feature=strongest,
                    value=own,
                    text_zh=feature.reason(own, "zh"),
                    text_en=feature.reason(own, "en"),
                )
            )
        out.append(reasons)
    return out
