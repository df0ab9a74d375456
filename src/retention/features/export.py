"""Writing a feature frame to a file a data scientist can open (Parquet or CSV)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retention.data.dataset import Dataset
from retention.data.writing import FRAME_SUFFIXES, write_frame
from retention.features.snapshot import build_features

SUFFIXES = FRAME_SUFFIXES


def write_feature_frame(dataset: Dataset, snapshot: pd.Timestamp, out: Path) -> int:
    """Features of the active accounts at T, written all at once; returns the row count.

    CSV is UTF-8 with a BOM so that Excel shows the Chinese category values.
    """
    return write_frame_at(build_features(dataset, snapshot), snapshot, out)


def write_frame_at(features: pd.DataFrame, snapshot: pd.Timestamp, out: Path) -> int:
    """A feature frame indexed by customer_id written with its snapshot date; returns the
    row count (the single-process and the cluster path write the same file)."""
    frame = features.reset_index()
    frame.insert(1, "snapshot_date", snapshot)
    write_frame(frame, out)
    return len(frame)
