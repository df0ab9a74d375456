"""Monitoring: drift of each batch from the model's training reference, realised churn against
predicted once labels mature, and the retrain signal (`retention monitor`). Imports Evidently:
the serving process reads only the stored summaries (`retention.store.monitoring`)."""
