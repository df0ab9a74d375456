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
from retention.model.artifact import ChurnModel

TOP_REASONS = 3


@dataclass(frozen=True)
class Contributions:
    """Per-row contributions by feature (n, features) and the bias, for one matrix."""

    by_feature: np.ndarray
    bias: np.ndarray
    features: list[str]

    @property
    def raw_score(self) -> np.ndarray:
        return self.by_feature.sum(axis=1) + self.bias

    def by_group(self, groups: dict[str, str]) -> tuple[list[str], np.ndarray]:
        """The catalogue groups (in the order the model's features first name them) and the
        (n, groups) sums of their features' contributions."""
        names = [groups.get(f, "other") for f in self.features]
        order = list(dict.fromkeys(names))
        members = np.zeros((len(self.features), len(order)))  # feature x group, one-hot
        members[np.arange(len(names)), [order.index(n) for n in names]] = 1.0
        return order, self.by_feature @ members


def contributions(model: ChurnModel, matrix: np.ndarray) -> Contributions:
    values = model.contributions(matrix)
    return Contributions(
        by_feature=values[:, :-1], bias=values[:, -1], features=list(model.features)
    )


def reason_table(
    frame: pd.DataFrame, parts: Contributions, catalogue: Catalogue, top: int = TOP_REASONS
) -> pd.DataFrame:
    """Long table of every row's risk-raising reasons: row, rank, group, contribution,
    feature, value, text_zh, text_en (vectorised over rows; only the texts are per reason)."""
    groups = {f.name: f.group for f in catalogue.features}
    group_names, values = parts.by_group(groups)
    names = np.array(group_names, dtype=object)
    n = values.shape[0]
    # The strongest feature of each group, per row.
    strongest = np.empty((n, len(names)), dtype=object)
    for g, group in enumerate(names):
        members = [i for i, f in enumerate(parts.features) if groups.get(f) == group]
        best = np.argmax(parts.by_feature[:, members], axis=1)
        strongest[:, g] = np.array(parts.features, dtype=object)[np.array(members)[best]]
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    rows = np.repeat(np.arange(n), order.shape[1])
    picked = order.ravel()
    contribution = values[rows, picked]
    keep = contribution > 0  # only what raises risk is a reason
    rows, picked, contribution = rows[keep], picked[keep], contribution[keep]
    features = strongest[rows, picked]
    own = np.empty(len(rows), dtype=object)
    for name in set(features):
        chosen = features == name
        own[chosen] = frame[name].to_numpy(dtype=object)[rows[chosen]]
    # rows ascend, so an entry's rank is its place after the first entry of its row
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left") + 1
    group = names[picked]
    return pd.DataFrame(
        {
            "row": rows,
            "rank": rank,
            "group": group,
            "contribution": contribution,
            "feature": features,
            "value": own,
            "group_zh": [catalogue.groups[g].zh for g in group],
            "group_en": [catalogue.groups[g].en for g in group],
            "text_zh": [
                catalogue.by_name[f].reason(v, "zh") for f, v in zip(features, own, strict=True)
            ],
            "text_en": [
                catalogue.by_name[f].reason(v, "en") for f, v in zip(features, own, strict=True)
            ],
        }
    )
