"""Drift of a batch from the model's training reference, measured by Evidently.

Every feature and the scores are compared with the population stability index (PSI, Evidently's
`psi` test): the common measure in credit and utility scoring, read the same at any portfolio
size (0.1 a shift worth a look, 0.2 a real one), where p-value tests flag everything once
there are tens of thousands of accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

SCORE = "probability"
METHOD = "psi"
MISSING_JUMP = 0.25  # a feature this much more often empty than in training: a missing feed


@dataclass(frozen=True)
class Drift:
    """Per-feature PSI against the reference, the scores' PSI, and the Evidently snapshot."""

    features: pd.DataFrame  # feature, psi, drifted, missing, missing_share; most drifted first
    score_psi: float
    not_compared: list[str]  # features empty in the training reference: nothing to judge by
    threshold: float
    snapshot: Snapshot

    @property
    def missing(self) -> list[str]:
        """Features empty, or far more often empty, in the batch than in training."""
        return self.features.loc[self.features["missing"], "feature"].tolist()

    @property
    def drifted(self) -> list[str]:
        return self.features.loc[self.features["drifted"], "feature"].tolist()

    @property
    def drifted_share(self) -> float:
        return len(self.drifted) / max(1, len(self.features))

    @property
    def score_drifted(self) -> bool:
        return self.score_psi >= self.threshold

    def save_html(self, path: Path) -> None:
        self.snapshot.save_html(str(path))


# Evidently writes the report's data as JSON inside an inline <script>, unescaped: a category
# such as "</script><b>x" would end the script early. Angle brackets become their full-width
# look-alikes, so the report shows the value recognisably and its scripts stay whole.
SCRIPT_SAFE = str.maketrans({"<": "＜", ">": "＞"})


def script_safe(value: str) -> str:
    """A category as the report may show it inside a script: no `<` or `>`."""
    return value.translate(SCRIPT_SAFE)


def _typed(frame: pd.DataFrame, numerical: list[str], categorical: list[str]) -> pd.DataFrame:
    """Both sides in one shape: numbers as floats, categories as script-safe text, a plain row
    index."""
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name in numerical:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype(float).to_numpy()
    for name in categorical:
        values = frame[name].astype(object)
        shown = values.map(lambda v: script_safe(v) if isinstance(v, str) else v)
        out[name] = shown.where(values.notna(), None).to_numpy()
    return out


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    threshold: float,
    drift_share: float,
    title: str,
) -> Drift:
    """Compare `current` (a batch: features and `probability`) with `reference`.

    A feature the training reference has but the batch lacks (empty, or at least MISSING_JUMP
    more often empty: a table or a column did not arrive) counts as drifted, whatever the PSI
    of its remaining values; Evidently compares the values that are there."""
    judged = [f for f in features if reference[f].notna().any()]
    missing_share = current[judged].isna().mean()
    missing = missing_share - reference[judged].isna().mean() >= MISSING_JUMP
    compared = [f for f in judged if current[f].notna().any()]
    categories = [f for f in compared if f in categorical]
    numbers = [f for f in compared if f not in categorical] + [SCORE]
    definition = DataDefinition(numerical_columns=numbers, categorical_columns=categories)
    ref, cur = (
        Dataset.from_pandas(_typed(side, numbers, categories), data_definition=definition)
        for side in (reference, current)
    )
    report = Report(
        [
            DataDriftPreset(
                columns=compared, method=METHOD, threshold=threshold, drift_share=drift_share
            ),
            ValueDrift(column=SCORE, method=METHOD, threshold=threshold),
        ],
        metadata={"title": title},
        include_tests=True,
    )
    snapshot = report.run(current_data=cur, reference_data=ref)
    values = {
        metric["config"]["column"]: float(metric["value"])
        for metric in snapshot.dict()["metrics"]
        if str(metric["config"].get("type", "")).endswith("ValueDrift")
    }
    table = pd.DataFrame(
        {
            "feature": judged,
            "psi": [values.get(f, float("nan")) for f in judged],
            "missing": missing.to_numpy(dtype=bool),
            "missing_share": missing_share.to_numpy(dtype=float),
        }
    )
    table["drifted"] = (table["psi"] >= threshold) | table["missing"]
    table = table.sort_values(
        ["missing", "psi"], ascending=False, kind="stable", na_position="first", ignore_index=True
    )
    table = table[["feature", "psi", "drifted", "missing", "missing_share"]]
    not_compared = [f for f in features if f not in judged]
    return Drift(table, values[SCORE], not_compared, threshold, snapshot)


SEGMENT_COLUMNS = ("tariff_category", "industry_code")
SEGMENT_MIN_ACCOUNTS = 300
SEGMENT_BINS = 10  # fewer bins than the population's 30: a few hundred accounts per segment


def segment_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    threshold: float,
    min_accounts: int = SEGMENT_MIN_ACCOUNTS,
    shown: int = 5,
) -> list[dict[str, object]]:
    """Drift within each tariff category and industry of at least `min_accounts` accounts on
    both sides, most drifted first: a shift in one segment (an industry turning down) can be
    too small a share of the portfolio to move the population's distributions.

    Informational: industries have business cycles, so some drift within an industry is
    normal, and the model compares accounts with their industry's peers. Evidently's PSI
    (the function behind its `psi` test, which alone takes a number of bins) per feature,
    without a report per segment: tens of reports would take minutes."""
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.core import ColumnType

    out: list[dict[str, object]] = []
    for column in SEGMENT_COLUMNS:
        if column not in current or column not in reference:
            continue
        ref_groups = reference.groupby(reference[column].astype(object))
        for value, group in current.groupby(current[column].astype(object)):
            if len(group) < min_accounts or value not in ref_groups.groups:
                continue
            ref = ref_groups.get_group(value)
            if len(ref) < min_accounts:
                continue
            scores = {}
            for name in features:
                a, b = ref[name].dropna(), group[name].dropna()
                if len(a) < min_accounts // 2 or len(b) < min_accounts // 2:
                    continue
                kind = ColumnType.Categorical if name in categorical else ColumnType.Numerical
                if kind is ColumnType.Categorical:
                    a, b = a.astype(str), b.astype(str)
                scores[name] = float(_psi(a, b, kind, threshold, n_bins=SEGMENT_BINS)[0])
            drifted = sorted(
                (n for n, v in scores.items() if v >= threshold), key=lambda n: -scores[n]
            )
            out.append(
                {
                    "segment": column,
                    "value": str(value),
                    "accounts": len(group),
                    "features_compared": len(scores),
                    "drifted_share": len(drifted) / max(1, len(scores)),
                    "drifted": [
                        {"feature": n, "psi": round(scores[n], 6)} for n in drifted[:shown]
                    ],
                }
            )
    return sorted(out, key=lambda s: -float(s["drifted_share"]))  # type: ignore[arg-type]
