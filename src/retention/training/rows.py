"""Training rows from a dataset folder (the product's features) or from a user's own table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from retention.data.loading import load_dataset
from retention.data.simulator import ORACLE_HORIZON, TRUTH_DIR
from retention.features.catalogue import Catalogue, load_catalogue
from retention.features.snapshot import build_training_set, sample_share, sampled_accounts
from retention.model.compatibility import catalogue_sha256
from retention.training.config import SplitConfig, TrainingConfig
from retention.training.pipeline import ID, LABEL, PART, REVENUE, SPARE, TIME, TrainingRows
from retention.training.split import hold_out_accounts, split_by_time

if TYPE_CHECKING:
    from distributed import Client

    from retention.features.distributed import TaskProgress

log = logging.getLogger(__name__)
VALIDATION_ACCOUNTS = SplitConfig().validation_accounts


def rows_from_dataset(
    folder: Path,
    config: TrainingConfig,
    client: Client | None = None,
    task_progress: TaskProgress | None = None,
) -> TrainingRows:
    """Stacked snapshots of a dataset folder, split by time; the oracle joined if present.

    With a Dask `client` the folder is a partitioned dataset whose training set is built on
    the cluster (features/distributed.py; `task_progress` hears of its tasks) and gathered
    here for the in-memory fit: the same rows in the same order as one process builds from
    the folder.
    """
    catalogue = load_catalogue()
    if client is None:
        dataset = load_dataset(folder)  # validates first: an invalid dataset stops here
        whole = build_training_set(dataset, catalogue, config.churn)
        share = sample_share(len(whole), config.max_training_rows)
        if share < 1:
            _say_sampled(share, len(whole), config.max_training_rows)
        stacked = sampled_accounts(whole, share).reset_index()
        del whole
    else:
        stacked, share = _gathered(client, folder, catalogue, config, task_progress)
    split = split_by_time(pd.DatetimeIndex(stacked[TIME].unique()), config)
    stacked[PART] = hold_out_accounts(
        split.part_of(stacked[TIME]),
        stacked[ID],
        config.split.validation_accounts,
        config.lightgbm.seed,
        left_out=SPARE,
    )
    stacked = stacked[stacked[PART].notna()].reset_index(drop=True)
    stacked[LABEL] = stacked[LABEL].astype(int)
    features = catalogue.names(point_in_time_only=True)
    categorical = [f for f in features if catalogue.by_name[f].categorical]
    monotone = [0 if f in categorical else int(catalogue.by_name[f].direction) for f in features]
    description = {
        "source": str(folder.resolve()),
        "rows": f"{len(stacked):,}",
        **{f"window_{k}": v for k, v in split.describe().items()},
        "gap_months": str(split.gap_months),
        "validation_accounts": str(config.split.validation_accounts),
        "sampled_accounts_share": f"{share:.4f}",
    }
    return TrainingRows(
        frame=stacked,
        features=features,
        categorical=categorical,
        monotone=monotone,
        groups={f.name: f.group for f in catalogue.features},
        description=description,
        oracle=_oracle(folder, stacked, config),
        rule_feature="kwh_3m_yoy",
        catalogue_sha256=catalogue_sha256(catalogue),
    )


def _gathered(
    client: Client,
    folder: Path,
    catalogue: Catalogue,
    config: TrainingConfig,
    task_progress: TaskProgress | None,
) -> tuple[pd.DataFrame, float]:
    """The training set built on the cluster, in one process's order (snapshot after
    snapshot, accounts in part order), and the share of accounts it holds: the fit is
    LightGBM in memory on the gathered rows, so a set over `max_training_rows` or over a
    third of this machine's free memory is sampled by account on the workers first."""
    from retention.features.distributed import build_training_set_distributed

    free = _available_memory()
    # LightGBM's binned dataset and the evaluation copies need about as much again; the
    # size is known before the rows are gathered, so a set too large never crosses whole
    built = build_training_set_distributed(
        client,
        folder,
        catalogue,
        config.churn,
        max_rows=config.max_training_rows,
        max_bytes=free // 3,
        task_progress=task_progress,
    )
    frame, share = built.frame, built.share
    if share < 1:
        _say_sampled(share, built.whole_rows, config.max_training_rows, built.whole_bytes, free)
    order = np.argsort(frame.index.get_level_values("snapshot_date"), kind="stable")
    stacked = frame.iloc[order].reset_index()
    del frame, built  # the gathered copy, before the fit needs the memory
    log.info(
        "training set gathered: %d rows, %.0f MB",
        len(stacked),
        stacked.memory_usage(deep=True).sum() / 1e6,
    )
    return stacked, share


def _say_sampled(
    share: float, rows: int, max_rows: int | None, size: int = 0, free: int = 0
) -> None:
    """Log that the training set was sampled by account, why and to what share."""
    memory = f"，或本机可用内存 {free / 1e9:.1f} GB 的三分之一" if free else ""
    memory_en = f" or a third of the free memory ({free / 1e9:.1f} GB)" if free else ""
    size_text = f"，{size / 1e9:.1f} GB" if size else ""
    log.warning(
        "训练集 %s 行%s，超出上限（max_training_rows %s 行%s）：按户抽取 %.1f%% 的客户训练 / the "
        "training set (%s rows) is over its budget (max_training_rows %s%s): %.1f%% of the "
        "accounts sampled, all of an account's rows or none",
        f"{rows:,}", size_text, max_rows, memory, 100 * share,
        f"{rows:,}", max_rows, memory_en, 100 * share,
    )  # fmt: skip


def _available_memory() -> int:
    """Bytes this machine has free now (psutil comes with distributed)."""
    import psutil

    return int(psutil.virtual_memory().available)


def _oracle(folder: Path, rows: pd.DataFrame, config: TrainingConfig) -> pd.Series | None:
    """The simulator's true probabilities for these rows, when the folder has them."""
    path = folder / TRUTH_DIR / "churn_probability.parquet"
    if not path.exists() or config.churn.horizon_months != ORACLE_HORIZON:
        return None
    truth = pd.read_parquet(path, columns=["customer_id", "snapshot_date", "probability"])
    truth["snapshot_date"] = truth["snapshot_date"].astype(rows[TIME].dtype)
    merged = rows[[ID, TIME]].merge(
        truth, how="left", left_on=[ID, TIME], right_on=["customer_id", "snapshot_date"]
    )
    return pd.Series(merged["probability"].to_numpy(), index=rows.index)


class TableError(ValueError):
    """A user's table that cannot be trained on; the message names the file and the column."""


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise TableError(f"{path}: file not found")
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        from retention.data.reading import detect_encoding

        encoding = detect_encoding(path.read_bytes()[:1_000_000])
        try:
            frame = pd.read_csv(path, encoding=encoding)
        except pd.errors.EmptyDataError as err:
            raise TableError(f"{path}: empty file") from err
    else:
        raise TableError(f"{path}: must be a .csv or .parquet file")
    if frame.empty:
        raise TableError(f"{path}: the table has no rows")
    return frame


def rows_from_table(
    path: Path,
    id_column: str,
    label_column: str,
    time_column: str | None,
    test_path: Path | None,
    seed: int = 42,
) -> TrainingRows:
    """A user's feature table: text columns become categories, dates become ages in days.

    With a time column the latest 20% of times are the test and the 20% before them the
    validation; without one the split is stratified at random (a warning says so). A
    separate test table, when given, is the test and the table is split into train and
    validation.
    """
    table = _checked(read_table(path), path, id_column, label_column, time_column)
    test = None
    if test_path is not None:
        test = _checked(read_table(test_path), test_path, id_column, label_column, time_column)
        missing = sorted(set(table.columns) - set(test.columns))
        if missing:
            raise TableError(
                f"{test_path}: columns missing from the test table: {', '.join(missing)}"
            )
    reference = _reference_time(table, time_column)
    frame = table.copy()
    if test is not None:
        frame = pd.concat(
            [frame.assign(**{PART: None}), test.assign(**{PART: "test"})], ignore_index=True
        )
    else:
        frame[PART] = None
    features, categorical, frame = _prepare(frame, id_column, label_column, time_column, reference)
    frame[PART] = _split(frame, time_column, label_column, seed)
    if frame[id_column].duplicated().any():
        # The same account at several times: validate on accounts left out of training, or
        # early stopping rewards memorising accounts (see split.hold_out_accounts).
        frame[PART] = hold_out_accounts(
            frame[PART], frame[id_column].astype(str), VALIDATION_ACCOUNTS, seed, SPARE
        )
        frame = frame[frame[PART].notna()].reset_index(drop=True)
    frame[LABEL] = frame[label_column].astype(int)
    frame[ID] = frame[id_column].astype(str)
    frame[TIME] = frame[time_column] if time_column else pd.NaT
    frame[REVENUE] = 1.0  # no money column: money captured becomes accounts captured
    description = {
        "source": str(path.resolve()),
        "rows": f"{len(frame):,}",
        "split": "by time" if time_column else "stratified (no time column)",
    }
    if test_path is not None:
        description["test_source"] = str(test_path.resolve())
    return TrainingRows(
        frame=frame,
        features=features,
        categorical=categorical,
        monotone=[0] * len(features),
        groups={f: "table" for f in features},
        description=description,
    )


def _checked(
    frame: pd.DataFrame, path: Path, id_column: str, label_column: str, time_column: str | None
) -> pd.DataFrame:
    for column, option in (
        (id_column, "--id-column"),
        (label_column, "--label-column"),
        (time_column, "--time-column"),
    ):
        if column is not None and column not in frame.columns:
            raise TableError(
                f"{path}: no column '{column}' ({option}); the columns are "
                f"{', '.join(map(str, frame.columns[:20]))}"
            )
    label = pd.to_numeric(frame[label_column], errors="coerce")
    bad = frame.index[label.isna() | ~label.isin([0, 1])]
    if len(bad):
        examples = ", ".join(f"line {i + 2}: {frame[label_column].iloc[i]!r}" for i in bad[:5])
        raise TableError(
            f"{path}: column '{label_column}' must be 0 or 1 in every row; "
            f"{len(bad)} rows are not ({examples})"
        )
    if label.nunique() < 2:
        raise TableError(
            f"{path}: column '{label_column}' has only the value "
            f"{int(label.iloc[0])}: both churned (1) and kept (0) are needed"
        )
    if time_column is not None:
        parsed = pd.to_datetime(frame[time_column], errors="coerce")
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna())[0])
            raise TableError(
                f"{path}: column '{time_column}' must be a date or time in every "
                f"row (line {i + 2}: {frame[time_column].iloc[i]!r})"
            )
        frame = frame.assign(**{time_column: parsed})
    return frame


def _reference_time(table: pd.DataFrame, time_column: str | None) -> pd.Timestamp:
    if time_column:
        return pd.Timestamp(table[time_column].max())
    dates = [
        pd.to_datetime(table[c], errors="coerce").max()
        for c in table.columns
        if pd.api.types.is_datetime64_any_dtype(table[c])
    ]
    return max(dates) if dates else pd.Timestamp.now().normalize()


def _prepare(
    frame: pd.DataFrame,
    id_column: str,
    label_column: str,
    time_column: str | None,
    reference: pd.Timestamp,
) -> tuple[list[str], list[str], pd.DataFrame]:
    """Numbers stay, text becomes a category, dates become days before the row's time."""
    features, categorical = [], []
    out = frame.copy()
    now = out[time_column] if time_column else pd.Series(reference, index=out.index)
    for column in frame.columns:
        if column in (id_column, label_column, time_column, PART):
            continue
        values = frame[column]
        name = str(column)
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[name] = values.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(values) or _looks_like_dates(values):
            out[name] = (now - pd.to_datetime(values, errors="coerce")).dt.days.astype(float)
        else:
            out[name] = values.astype("object").where(values.notna(), None)
            categorical.append(name)
        features.append(name)
    if not features:
        raise TableError("the table has no feature columns besides the id, label and time")
    return features, categorical, out


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(200)
    if sample.empty or not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    return bool(pd.to_datetime(sample, errors="coerce").notna().all())


def _split(frame: pd.DataFrame, time_column: str | None, label_column: str, seed: int) -> pd.Series:
    parts = frame[PART].copy()
    pool = frame.index[parts.isna()]
    has_test = parts.eq("test").any()
    if time_column:
        times = np.sort(frame.loc[pool, time_column].unique())
        if len(times) < 3:
            raise TableError(
                f"'{time_column}' has {len(times)} distinct values; at least 3 are "
                f"needed to split by time"
            )
        cuts = [0.6, 0.8] if not has_test else [0.75, 1.0]
        train_end = times[max(0, int(len(times) * cuts[0]) - 1)]
        valid_end = times[max(0, int(len(times) * cuts[1]) - 1)]
        when = frame.loc[pool, time_column]
        parts.loc[pool] = np.where(
            when <= train_end, "train", np.where(when <= valid_end, "validation", "test")
        )
        return parts
    log.warning(
        "no time column: splitting at random (stratified); a model that will score the "
        "future is better judged on later rows (--time-column)"
    )
    label = frame.loc[pool, label_column].astype(int)
    rest = pool
    if not has_test:
        rest, test_part = train_test_split(pool, test_size=0.2, stratify=label, random_state=seed)
        parts.loc[test_part] = "test"
    train_rows, valid_rows = train_test_split(
        rest, test_size=0.25, stratify=label.loc[rest], random_state=seed
    )
    parts.loc[train_rows] = "train"
    parts.loc[valid_rows] = "validation"
    return parts
