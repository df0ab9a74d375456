"""The MLflow pyfunc flavour of the churn model: `predict` returns probabilities.

`mlflow.pyfunc.load_model("models:/key-account-churn@champion").predict(frame)` gives one
calibrated probability per row of a feature frame (the signature lists the columns);
`models:/key-account-effects@champion` gives each modelled action's expected churn averted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from retention.model.artifact import ChurnModel
from retention.model.effects_artifact import EffectModels

ARTIFACT_KEY = "churn_model"
EFFECTS_ARTIFACT_KEY = "effect_models"


class ChurnPyfunc(PythonModel):
    """Loads the saved ChurnModel from the run's artifacts and predicts probabilities."""

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        self.model = ChurnModel.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.model.predict_proba(pd.DataFrame(model_input))


class EffectsPyfunc(PythonModel):
    """Loads the saved EffectModels; `predict` gives each action's churn averted per row."""

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        self.models = EffectModels.load(Path(context.artifacts[EFFECTS_ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return self.models.averted(pd.DataFrame(model_input))
