"""The demo's portfolio has a campaign history, so `make run` shows the actions' effects."""

from __future__ import annotations

from retention.data.simulator import simulate
from retention.demo import demo_simulation
from retention.settings import Settings


def test_the_demo_portfolio_includes_randomised_campaigns() -> None:
    config = demo_simulation(Settings(demo_accounts=200, demo_months=24))
    assert config.campaigns is not None
    assert (config.accounts, config.months) == (200, 24)
    interventions = simulate(config).tables["interventions"]
    assert interventions["randomised"].astype(bool).any()
    assert interventions["assignment"].eq("held_out").any()
    assert interventions["assignment_probability"].between(0, 1, inclusive="right").all()
