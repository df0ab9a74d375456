"""The booster's fit takes its thread count from the training configuration."""

from __future__ import annotations

import numpy as np

from retention.training.config import LightGBMConfig
from retention.training.fit import fit_booster


def test_the_booster_uses_the_configured_threads() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    config = LightGBMConfig(max_rounds=5, min_child_samples=5, num_threads=1)
    booster = fit_booster(x[:300], y[:300], x[300:], y[300:], ["a", "b"], [], [0, 0], config)
    assert booster.params["num_threads"] == 1
    assert LightGBMConfig().num_threads == 2  # the default, as before
