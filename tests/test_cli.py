"""The `retention` command end to end on a tiny simulated portfolio."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from retention.cli import app
from retention.model.registry import configure

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "data"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--out",
            str(folder),
            "--accounts",
            "120",
            "--months",
            "20",
            "--start",
            "2024-01",
            "--seed",
            "3",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder


def test_simulate_writes_a_valid_dataset_and_its_truth(tiny: Path) -> None:
    assert (tiny / "customers.csv").exists() and (tiny / "_truth" / "churn_events.parquet").exists()
    result = runner.invoke(app, ["validate", str(tiny)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("start", ["2024-13", "1960-01", "2099-06"])
def test_simulate_refuses_a_start_it_cannot_write_valid_data_for(
    tmp_path: Path, start: str
) -> None:
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x"), "--start", start])
    assert result.exit_code == 2, result.output
    assert "--start" in result.output and start in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_features_writes_one_snapshot(tiny: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"features{suffix}"
    result = runner.invoke(
        app, ["features", str(tiny), "--snapshot", "2025-08-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out, encoding="utf-8-sig")
    assert {"customer_id", "snapshot_date", "kwh_3m_yoy", "in_exit_process"} <= set(frame.columns)
    assert frame["customer_id"].is_unique and len(frame) > 50


def test_features_refuses_bad_options_before_reading(tiny: Path, tmp_path: Path) -> None:
    bad_date = runner.invoke(
        app, ["features", str(tiny), "--snapshot", "2025-02-30", "--out", str(tmp_path / "f.csv")]
    )
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    bad_out = runner.invoke(
        app, ["features", str(tiny), "--snapshot", "2025-08-01", "--out", str(tmp_path / "f.txt")]
    )
    assert bad_out.exit_code == 2 and ".parquet or .csv" in bad_out.output


def test_features_on_an_invalid_dataset_writes_nothing(tiny: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in tiny.glob("*.csv"):
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "monthly_usage.csv").write_text("customer_id,month\n", encoding="utf-8")
    out = tmp_path / "f.parquet"
    result = runner.invoke(
        app, ["features", str(broken), "--snapshot", "2025-08-01", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "monthly_usage" in result.output
    assert not out.exists()


def _score(
    dataset: Path, tracking_uri: str, work: Path, monkeypatch: pytest.MonkeyPatch, *options: str
) -> Result:
    """`retention score` of the dataset into an empty work folder, with the session's MLflow."""
    monkeypatch.setenv("RETENTION_WORK_DIR", str(work))
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", tracking_uri)
    result = runner.invoke(app, ["score", str(dataset), *options])
    assert result.exit_code == 0, result.output
    return result


def test_score_stores_a_batch_that_export_and_batches_show(
    simulated_dir: Path,
    champion: str,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a champion and an empty work folder, when the dataset is scored at a snapshot
    monkeypatch.setenv("RETENTION_CAPACITY", "30")
    result = _score(simulated_dir, tracking_uri, tmp_path, monkeypatch, "--snapshot", "2026-10-01")
    # then a batch is stored: the summary names it, without customer names
    assert "批次 / batch 1" in result.output and "2026-10-01" in result.output
    assert "3个月内" in result.output  # time to churn beside the probability (header may wrap)
    assert f"v{champion}" in result.output
    listed = runner.invoke(app, ["batches"])
    assert listed.exit_code == 0 and "complete" in listed.output
    # and both exports land in the outputs folder, named after the batch
    for fmt in ("csv", "xlsx"):
        exported = runner.invoke(app, ["export", "--format", fmt])
        assert exported.exit_code == 0, exported.output
    outputs = sorted(p.name for p in (tmp_path / "outputs").iterdir())
    assert outputs == ["batch-1-20261001-zh.csv", "batch-1-20261001-zh.xlsx"]
    english = tmp_path / "en.csv"
    result = runner.invoke(
        app, ["export", "--format", "csv", "--lang", "en", "--out", str(english)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(english, encoding="utf-8-sig")
    assert frame["Risk band"].head(30).eq("high").all()


def _with_absurd_bills(tiny: Path, folder: Path) -> Path:
    """The tiny dataset with three kWh and bills of 1e308, as the outside probe sent."""
    folder.mkdir()
    for path in tiny.glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    for table, columns in (
        ("monthly_usage", ["kwh_total", "kwh_peak", "kwh_flat", "kwh_valley"]),
        ("monthly_billing", ["amount_due_cny"]),
    ):
        frame = pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)
        frame.loc[[5, 100, 1000], columns] = ["1e308"] + [""] * (len(columns) - 1)
        frame.to_csv(folder / f"{table}.csv", index=False)
    return folder


def test_train_on_absurd_values_reports_them_and_starts_no_run(
    tiny: Path, tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", tracking_uri)
    experiment = mlflow.get_experiment_by_name("key-account-churn").experiment_id
    before = len(MlflowClient().search_runs([experiment]))
    folder = _with_absurd_bills(tiny, tmp_path / "absurd")
    for command in (["validate", str(folder)], ["train", str(folder)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        said = " ".join(result.output.split())
        assert "kwh_total" in said and "amount_due_cny" in said and "line 7" in said
    assert len(MlflowClient().search_runs([experiment])) == before


def test_export_of_an_older_store_with_infinite_money_writes_empty_cells(
    simulated_dir: Path,
    champion: str,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import update

    from retention.store.batches import SCORES
    from retention.store.database import open_store

    # Given a batch that an older version stored with infinite and astronomical money
    _score(simulated_dir, tracking_uri, tmp_path, monkeypatch)
    engine = open_store(f"sqlite:///{tmp_path / 'retention.db'}")
    with engine.begin() as connection:
        connection.execute(
            update(SCORES).where(SCORES.c.rank == 1).values(money_at_risk_cny=float("inf"))
        )
        connection.execute(
            update(SCORES).where(SCORES.c.rank == 2).values(expected_revenue_cny=2e307)
        )
    # when it is exported, then both formats are written, those cells empty
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"list.{fmt}"
        result = runner.invoke(app, ["export", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "list.csv", encoding="utf-8-sig")
    assert frame["风险电费(元)"].isna().tolist()[:2] == [True, False]
    assert frame["预计年电费(元)"].isna().tolist()[:2] == [False, True]
    # and a folder it cannot write to is a clear message, not a traceback
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder", encoding="utf-8")
    result = runner.invoke(app, ["export", "--format", "csv", "--out", str(blocked / "x.csv")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "cannot export" in result.output and "blocked" in result.output


def test_score_without_a_champion_or_export_without_a_batch_says_what_to_do(
    simulated_dir: Path, tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        result = runner.invoke(app, ["score", str(simulated_dir)])
    finally:
        configure(tracking_uri)  # MLflow's URI is process-wide: give the session's back
    assert result.exit_code == 1
    assert "retention promote" in result.output
    result = runner.invoke(app, ["export", "--format", "csv"])
    assert result.exit_code == 1 and "retention score" in result.output
    result = runner.invoke(app, ["export", "--format", "pdf"])
    assert result.exit_code == 2 and "csv or xlsx" in result.output


def test_keys_are_printed_once_listed_by_prefix_and_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))
    created = runner.invoke(app, ["keys", "create", "--role", "crm", "--name", "crm-prod"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("rk_")
    prefix = key.split("_")[1]
    listed = runner.invoke(app, ["keys", "list"])
    assert prefix in listed.output and "crm-prod" in listed.output
    assert key not in listed.output  # only the prefix is ever shown again
    assert runner.invoke(app, ["keys", "revoke", prefix]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", prefix]).exit_code == 1
    wrong = runner.invoke(app, ["keys", "create", "--role", "root", "--name", "x"])
    assert wrong.exit_code == 2 and "crm, retention, admin" in wrong.output


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def _large_industry_account(folder: Path) -> tuple[str, str]:
    customers = pd.read_csv(folder / "customers.csv", dtype={"customer_id": str})
    by_capacity = customers["basic_charge_mode"] == "capacity"
    account = customers[(customers["tariff_category"] == "large_industry") & by_capacity].iloc[0]
    return str(account["customer_id"]), str(account["customer_name"])


def test_tariff_prints_the_alternatives_and_says_the_bills_match(
    tiny: Path, isolated: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a simulated large-industry account (its bills made from the shipped tables),
    customer, name = _large_industry_account(tiny)

    result = runner.invoke(
        app, ["tariff", str(tiny), "--customer", customer, "--date", "2025-07-15", "--shift", "0.2"]
    )

    # then the comparison names every alternative and the best plan, over the 12 months
    # before July 2025, and says the recomputed bills are the billed ones.
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"户号 / account {customer}" in output
    assert "2024-07 .. 2025-06" in output
    for label in ("现行方案", "基本电费改为按最大需量计收", "功率因数提高到考核标准 0.90",
                  "20% 峰段电量移至谷段", "组合方案", "最佳方案 / best plan"):  # fmt: skip
        assert label in output, label
    assert "示例省份" in output
    assert "重算电费与实际账单一致" in output and "差额 / difference 0.00 元" in output
    assert name not in result.output and name not in caplog.text


def test_tariff_says_plainly_when_the_bills_differ(
    tiny: Path, isolated: Path, tmp_path: Path
) -> None:
    # Given the simulated data with every bill 5% dearer, as by a tariff other than the tables,
    data = tmp_path / "dearer"
    shutil.copytree(tiny, data)
    bills = pd.read_csv(data / "monthly_billing.csv", dtype={"customer_id": str})
    bills["amount_due_cny"] = (bills["amount_due_cny"] * 1.05).round(2)
    bills.to_csv(data / "monthly_billing.csv", index=False)
    customer, _ = _large_industry_account(data)

    result = runner.invoke(app, ["tariff", str(data), "--customer", customer])

    # then the comparison says the recomputed bills are not the billed ones, by how much: the
    # difference over the 12 months is the 5% added (the recomputation is the original bills).
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "重算电费与实际账单相差 -4.8%" in output and "treat them as indicative" in output
    original = pd.read_csv(tiny / "monthly_billing.csv", dtype={"customer_id": str})
    last_12 = sorted(original["month"].unique())[-12:]

    def total(frame: pd.DataFrame) -> float:
        mine = frame[(frame["customer_id"] == customer) & frame["month"].isin(last_12)]
        return float(mine["amount_due_cny"].sum())

    difference = total(original) - total(bills)
    assert difference < 0
    assert f"差额 / difference {difference:,.2f} 元" in output


def test_tariff_names_an_unknown_customer(tiny: Path, isolated: Path) -> None:
    result = runner.invoke(app, ["tariff", str(tiny), "--customer", "NO-SUCH-ID"])

    assert result.exit_code == 1
    assert "户号 NO-SUCH-ID 不在客户档案中 / customer NO-SUCH-ID is not in customers" in " ".join(
        result.output.split()
    )


def test_tariff_refuses_bad_tables_naming_the_file(
    tiny: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retention.settings import packaged_file

    bad = isolated / "tariffs.yaml"
    text = packaged_file("serving/tariffs.yaml").read_text(encoding="utf-8")
    bad.write_text(
        text.replace("capacity_cny_per_kva_month: 25.0", "capacity_cny_per_kva_month: -25.0"),
        "utf-8",
    )
    monkeypatch.setenv("RETENTION_TARIFFS", str(bad))
    customer, _ = _large_industry_account(tiny)

    result = runner.invoke(app, ["tariff", str(tiny), "--customer", customer])

    assert result.exit_code == 1
    output = "".join(result.output.split())
    assert str(bad).replace(" ", "") in output
    assert "basic_charge[2020-01].capacity_cny_per_kva_month:不能为负/mustnotbenegative" in output


def _own_tables(folder: Path) -> Path:
    """The packaged tables with the basic charge by capacity at 30 元/kVA·月 (not 25)."""
    from retention.settings import packaged_file

    own = folder / "own-tariffs.yaml"
    text = packaged_file("serving/tariffs.yaml").read_text(encoding="utf-8")
    own.write_text(
        text.replace("capacity_cny_per_kva_month: 25.0", "capacity_cny_per_kva_month: 30.0"),
        "utf-8",
    )
    return own


def _simulate_small(out: Path, *extra: str) -> Result:
    return runner.invoke(
        app,
        ["simulate", "--out", str(out), "--accounts", "60", "--months", "14", "--start",
         "2024-01", "--seed", "5", "--format", "csv", *extra],
    )  # fmt: skip


def test_simulate_bills_by_a_company_s_own_tables(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a company's own tables, the simulator bills by them with --tariffs, or with
    # RETENTION_TARIFFS naming them, alike,
    own = _own_tables(isolated)
    given = _simulate_small(isolated / "given", "--tariffs", str(own))
    assert given.exit_code == 0, given.output
    monkeypatch.setenv("RETENTION_TARIFFS", str(own))
    by_setting = _simulate_small(isolated / "by-setting")
    assert by_setting.exit_code == 0, by_setting.output
    bills = (isolated / "given" / "monthly_billing.csv").read_text(encoding="utf-8")
    assert bills == (isolated / "by-setting" / "monthly_billing.csv").read_text(encoding="utf-8")
    customer, _ = _large_industry_account(isolated / "given")

    # when `retention tariff` recomputes an account's bills with the same tables, they match;
    # with the packaged ones, the difference is shown.
    same = runner.invoke(app, ["tariff", str(isolated / "given"), "--customer", customer])
    assert same.exit_code == 0, same.output
    assert "重算电费与实际账单一致" in " ".join(same.output.split())
    monkeypatch.delenv("RETENTION_TARIFFS")
    packaged = runner.invoke(app, ["tariff", str(isolated / "given"), "--customer", customer])
    assert packaged.exit_code == 0, packaged.output
    assert "重算电费与实际账单相差" in " ".join(packaged.output.split())


def test_simulate_refuses_bad_tables_before_writing(isolated: Path) -> None:
    bad = isolated / "bad-tariffs.yaml"
    bad.write_text(
        _own_tables(isolated).read_text(encoding="utf-8").replace("valley: 0.2483", "valley: -1"),
        "utf-8",
    )

    result = _simulate_small(isolated / "out", "--tariffs", str(bad))

    assert result.exit_code == 1
    output = "".join(result.output.split())
    assert str(bad).replace(" ", "") in output
    assert "energy[2020-01].prices.large_industry[from0kV].valley:不能为负/mustnotbenegative" in (
        output
    )
    assert not (isolated / "out").exists()
