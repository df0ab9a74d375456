"""The MLflow pyfunc flavour of the churn model: `predict` returns probabilities.

`mlflow.pyfunc.load_model("models:/key-account-churn@champion").predict(frame)` gives one
calibrated probability per row of a feature frame (the signature lists the columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from retention.model.artifact import ChurnModel

ARTIFACT_KEY = "churn_model"


class ChurnPyfunc(PythonModel):
    """Loads the saved ChurnModel from the run's artifacts and predicts probabilities."""

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        self.model = ChurnModel.load(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.model.predict_proba(pd.DataFrame(model_input))
