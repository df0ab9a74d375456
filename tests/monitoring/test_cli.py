"""`retention monitor` for a scheduler: 0 healthy, 3 retrain recommended, 1 cannot monitor."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from retention.cli import app
from retention.data.simulator import write_result
from retention.store.monitoring import latest_report

runner = CliRunner()


def test_the_exit_status_tells_a_scheduler_whether_to_retrain(  # type: ignore[no-untyped-def]
    monitored, shifted, simulated_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = monitored.settings
    monkeypatch.setenv("RETENTION_WORK_DIR", str(settings.work_dir))
    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", settings.tracking_uri)
    stable = monitored.runs["stable-2026-11"].batch.id
    healthy = runner.invoke(app, ["monitor", str(simulated_dir), "--batch", str(stable)])
    assert healthy.exit_code == 0, healthy.output
    assert "模型状态正常 / the model is healthy" in healthy.output

    reformed = tmp_path / "reformed"
    write_result(shifted, reformed, fmt="parquet")
    out = tmp_path / "reports"
    batch = monitored.runs["shifted"].batch
    alarm = runner.invoke(
        app, ["monitor", str(reformed), "--batch", str(batch.id), "--out", str(out)]
    )
    assert alarm.exit_code == 3, alarm.output
    assert "建议重新训练 / retraining recommended" in alarm.output
    assert "avg_price_3m" in alarm.output
    assert len(list(out.glob(f"{batch.label}-*-drift.html"))) == 1

    # a second run on a batch writes its own report: the first run's stays where its
    # stored summary points
    assert monitored.runs["stable-2026-11"].reports["drift"].is_file()

    # --matured picks the latest batch whose horizon has passed in the data
    ripe = runner.invoke(app, ["monitor", str(simulated_dir), "--matured"])
    assert ripe.exit_code in (0, 3), ripe.output
    assert f"批次 / batch {monitored.runs['matured'].batch.id} (2026-04-01)" in ripe.output
    assert "ROC AUC" in ripe.output

    missing = runner.invoke(app, ["monitor", str(simulated_dir), "--batch", "999"])
    assert missing.exit_code == 1 and "batch 999" in missing.output

    # a reports folder that cannot be made is named, and nothing is stored for the run
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    before = latest_report(monitored.engine, batch_id=stable)
    refused = runner.invoke(
        app,
        ["monitor", str(simulated_dir), "--batch", str(stable), "--out", str(blocker / "reports")],
    )
    assert refused.exit_code == 1 and "a-file" in refused.output, refused.output
    assert latest_report(monitored.engine, batch_id=stable) == before
