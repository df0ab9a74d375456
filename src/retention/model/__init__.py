"""The fitted churn model, shared by four jobs: training writes it; scoring, serving and
monitoring read it. `artifact` is the model itself, `info` what it says about its training,
`pyfunc` its MLflow flavour, `registry` every MLflow call, `compatibility` whether today's
catalogue can feed it."""
