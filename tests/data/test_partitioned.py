"""Partitioned datasets: written by account, read whole by pandas and Dask, validated per
partition, refused when an account's rows span partitions; `retention partition`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from retention.cli import app
from retention.data.contract import Rule
from retention.data.loading import load_dataset, validate_dataset
from retention.data.partitioned import PART_FILE, is_partitioned, partition_of, write_partitioned
from retention.data.simulator import TRUTH_DIR, SimulationResult

PARTS = 3
runner = CliRunner()


@pytest.fixture(scope="module")
def parted(simulation: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parted") / "dataset"
    write_partitioned(simulation.tables, folder, PARTS)
    return folder


def _copy(parted: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(parted, copy)
    return copy


def test_the_partition_of_an_account_is_stable_across_runs() -> None:
    # A pinned value: a change of rule would scatter existing datasets' accounts.
    assert partition_of(pd.Series(["C000001", "3300012345"]), 16).tolist() == [8, 0]


def test_every_row_of_an_account_is_in_its_customers_partition(
    parted: Path, simulation: SimulationResult
) -> None:
    assert is_partitioned(parted)
    owner = {}
    for k in range(PARTS):
        ids = pd.read_parquet(parted / "customers" / PART_FILE.format(k))["customer_id"]
        owner.update(dict.fromkeys(ids, k))
    assert len(owner) == len(simulation.tables["customers"])
    for name in ("monthly_usage", "monthly_billing", "service_tickets", "work_orders"):
        for k in range(PARTS):
            ids = pd.read_parquet(parted / name / PART_FILE.format(k))["customer_id"]
            assert {owner[i] for i in ids} <= {k}, name
    steps = pd.concat(
        pd.read_parquet(parted / "application_steps" / PART_FILE.format(k)).assign(part=k)
        for k in range(PARTS)
    )
    applications = pd.concat(
        pd.read_parquet(parted / "applications" / PART_FILE.format(k)).assign(part=k)
        for k in range(PARTS)
    )
    joined = steps.merge(applications[["application_id", "part"]], on="application_id")
    assert len(joined) == len(steps) and (joined["part_x"] == joined["part_y"]).all()


def test_pandas_and_dask_read_a_table_whole(parted: Path, simulation: SimulationResult) -> None:
    import dask.dataframe as dd

    usage = simulation.tables["monthly_usage"]
    whole = pd.read_parquet(parted / "monthly_usage")
    assert len(whole) == len(usage) and list(whole.columns) == list(usage.columns)
    lazy = dd.read_parquet(parted / "monthly_usage")
    assert list(lazy.columns) == list(usage.columns) and len(lazy) == len(usage)


def test_a_partitioned_dataset_loads_as_the_same_tables(parted: Path, simulated_dir: Path) -> None:
    report = validate_dataset(parted)
    assert report.ok, report.to_text()
    assert {f.file for f in report.files} >= {f"monthly_usage/{PART_FILE.format(2)}"}
    plain = load_dataset(simulated_dir)
    assert report.dataset is not None
    for name, frame in plain.tables().items():
        key = [c for c in frame.columns if c.endswith("_id")][:1] + (
            ["month"] if "month" in frame else ["step_code"] if "step_code" in frame else []
        )
        got = report.dataset.table(name)
        assert got is not None
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True),
            frame.sort_values(key).reset_index(drop=True),
            obj=name,
        )


def test_an_account_split_across_partitions_is_refused(parted: Path, tmp_path: Path) -> None:
    copy = _copy(parted, tmp_path)
    first, second = (copy / "monthly_usage" / PART_FILE.format(k) for k in (0, 1))
    moved = pq.read_table(first)  # an account's first month moves to another partition
    pq.write_table(moved.slice(1), first)
    pq.write_table(pa.concat_tables([pq.read_table(second), moved.slice(0, 1)]), second)
    report = validate_dataset(copy)
    assert not report.ok
    span = [p for p in report.problems if p.rule == Rule.ROWS_IN_OTHER_PARTITION]
    assert len(span) == 1
    assert span[0].file == f"monthly_usage/{PART_FILE.format(1)}" and span[0].count == 1
    assert span[0].examples[0]["partition"] == PART_FILE.format(0)


def test_a_missing_part_file_is_named(parted: Path, tmp_path: Path) -> None:
    copy = _copy(parted, tmp_path)
    (copy / "outages" / PART_FILE.format(2)).unlink()
    report = validate_dataset(copy)
    missing = [p for p in report.problems if p.rule == Rule.PARTITION_MISSING]
    assert [p.file for p in missing] == [f"outages/{PART_FILE.format(2)}"]


def test_a_partition_breaking_a_rule_is_named_by_its_file(parted: Path, tmp_path: Path) -> None:
    copy = _copy(parted, tmp_path)
    path = copy / "monthly_billing" / PART_FILE.format(1)
    bills = pq.read_table(path).to_pandas()
    bills.loc[3, "amount_due_cny"] = -5.0
    bills.to_parquet(path, index=False)
    report = validate_dataset(copy)
    assert [(p.file, p.column, p.count) for p in report.problems] == [
        (f"monthly_billing/{PART_FILE.format(1)}", "amount_due_cny", 1)
    ]
    assert report.problems[0].examples[0]["row"] == 3


def test_retention_partition_writes_a_valid_partitioned_copy(
    simulated_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "parts"
    result = runner.invoke(
        app, ["partition", str(simulated_dir), "--out", str(out), "--partitions", "2"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "customers").iterdir()) == [
        PART_FILE.format(0),
        PART_FILE.format(1),
    ]
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    same = runner.invoke(app, ["partition", str(out), "--out", str(out)])
    assert same.exit_code == 2


def test_retention_partition_copies_the_simulators_truth_along(
    simulated_dir: Path, simulation: SimulationResult, tmp_path: Path
) -> None:
    # Given a simulated dataset with its hidden truth under _truth/
    assert (simulated_dir / TRUTH_DIR).is_dir()
    # when it is partitioned
    out = tmp_path / "parts"
    result = runner.invoke(app, ["partition", str(simulated_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # then the copy holds the same truth, table for table, for the oracle's comparisons
    copied = sorted(p.name for p in (out / TRUTH_DIR).iterdir())
    assert copied == sorted(f"{name}.parquet" for name in simulation.truth)
    for name, frame in simulation.truth.items():
        back = pd.read_parquet(out / TRUTH_DIR / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_dtype=False)
    # and a copy of a dataset without truth has none
    plain = tmp_path / "plain"
    runner.invoke(app, ["partition", str(out), "--out", str(plain)])
    shutil.rmtree(out / TRUTH_DIR)
    again = tmp_path / "again"
    assert runner.invoke(app, ["partition", str(out), "--out", str(again)]).exit_code == 0
    assert not (again / TRUTH_DIR).exists()
    assert (plain / TRUTH_DIR).is_dir()  # a partitioned source's truth goes along too


def test_simulate_partitions_is_parquet_only(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["simulate", "--out", str(tmp_path / "x"), "--partitions", "2", "--format", "csv"],
    )
    assert result.exit_code == 2 and "Parquet" in result.output
    assert not (tmp_path / "x").exists()
