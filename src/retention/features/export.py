"""Writing a feature frame to a file a data scientist can open (Parquet or CSV)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from retention.data.io import Dataset
from retention.features.snapshot import build_features

SUFFIXES = (".parquet", ".csv")


def write_feature_frame(dataset: Dataset, snapshot: pd.Timestamp, out: Path) -> int:
    """Features of the active accounts at T, written all at once; returns the row count.

    CSV is UTF-8 with a BOM so that Excel shows the Chinese category values.
    """
    if out.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{out}: the output must end in .parquet or .csv")
    frame = build_features(dataset, snapshot).reset_index()
    frame.insert(1, "snapshot_date", snapshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        if out.suffix.lower() == ".csv":
            frame.to_csv(staging, index=False, encoding="utf-8-sig")
        else:
            frame.to_parquet(staging, index=False)
        os.replace(staging, out)
    finally:
        Path(staging).unlink(missing_ok=True)
    return len(frame)
