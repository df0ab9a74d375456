"""A data value that looks like markup (a supplying unit named `</script><b>x`) cannot break the
Evidently report: its scripts stay whole, its data load, and the value is shown recognisably."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationResult
from retention.monitoring.drift import script_safe
from retention.monitoring.job import MonitorRun, run_monitoring
from retention.scoring.job import run_scoring
from retention.settings import Settings
from retention.store.database import open_store

REGION = "</script><b>x"
INDUSTRY = "<!--<script>C99"


class Scripts(HTMLParser):
    """The page's script blocks as a browser splits them: a script ends at the first
    `</script`, and a `<script>` inside one (in a string of the library) is no tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.blocks: list[str] = []
        self.closed = 0
        self._inside = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "script":
            self._inside = True
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False
            self.closed += 1

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.blocks[-1] += data


@pytest.fixture(scope="module")
def odd(
    champion: str,
    simulation: SimulationResult,
    tracking_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> MonitorRun:
    """A batch of the test portfolio in which one supplying unit and one industry carry
    markup in their names, monitored."""
    customers = simulation.tables["customers"].copy()
    customers["region"] = customers["region"].where(
        customers["region"] != customers["region"].iloc[0], REGION
    )
    industry = customers["industry_code"].value_counts().index[0]
    customers["industry_code"] = customers["industry_code"].where(
        customers["industry_code"] != industry, INDUSTRY
    )
    dataset = Dataset(**{**simulation.tables, "customers": customers})
    folder = Path(tmp_path_factory.mktemp("odd-values"))
    settings = Settings(work_dir=folder, mlflow_tracking_uri=tracking_uri, capacity=40)
    engine = open_store(settings.store_url)
    batch = run_scoring(settings, dataset, engine, snapshot=pd.Timestamp("2026-11-01")).batch
    return run_monitoring(settings, dataset, engine, batch_id=batch.id)


@pytest.mark.slow  # scores and monitors the test portfolio once more (about 30 s)
def test_markup_in_a_value_leaves_the_reports_scripts_whole(odd: MonitorRun) -> None:
    page = odd.reports["drift"].read_text(encoding="utf-8")
    parser = Scripts()
    parser.feed(page)
    assert len(parser.blocks) == parser.closed > 0  # every script closed where it should be
    assert REGION not in page and INDUSTRY not in page
    # the report's data: `var <id> = {...}; var additional_graphs_<id> = {...};`
    (payload,) = [b for b in parser.blocks if "var additional_graphs_" in b]
    found = re.search(r"var (\w+) = (.*);\s*var additional_graphs_\1 = (.*);\s*$", payload, re.S)
    assert found is not None, payload[:200]
    dashboard, graphs = json.loads(found.group(2)), json.loads(found.group(3))
    shown = json.dumps([dashboard, graphs], ensure_ascii=False)
    # recognisable: the same text with look-alike brackets
    assert script_safe(REGION) in shown and script_safe(INDUSTRY) in shown
    assert "region" in shown and "industry_code" in shown


def test_the_report_shows_a_lookalike_of_the_value() -> None:
    assert script_safe(REGION) == "＜/script＞＜b＞x"
    assert script_safe("华东 C31 & 供电") == "华东 C31 & 供电"
