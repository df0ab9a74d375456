"""Point-in-time customer-behaviour features, churn labels and the training-set builder.

One module per feature group (consumption, price_bill, payment, service, work_orders,
reliability, contract_market, profile); `snapshot` assembles them, `labels` defines churn,
`catalogue` reads the feature catalogue (packaged, or a user's copy).
"""
