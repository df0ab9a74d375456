"""Training, evaluation and the model registry: out-of-time LightGBM tracked in MLflow."""
