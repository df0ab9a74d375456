"""Churn prediction and retention follow-up for the key accounts (大客户) of power suppliers."""

__version__ = "0.1.0"
