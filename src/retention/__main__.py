"""`python -m retention ...`: the same commands as `retention ...`."""

from retention.cli import app

app(prog_name="retention")
