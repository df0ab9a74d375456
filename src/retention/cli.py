"""The `retention` command: one thin command per job; the work lives in the packages."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from retention.settings import Settings

app = typer.Typer(
    help="Key-account churn prediction and retention (大客户流失预警与挽留).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DatasetDir = Annotated[
    Path, typer.Argument(help="Dataset folder: one CSV or Parquet file per table.")
]
Encoding = Annotated[
    str | None,
    typer.Option(help="Force the CSV encoding (utf-8, utf-8-sig, gb18030); default: detect."),
]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Set up logging when a job starts (never at import)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def validate(
    folder: DatasetDir,
    encoding: Encoding = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a dataset against the data contract and report every problem at once."""
    from retention.data.validation import validate_dataset

    report = validate_dataset(folder, encoding=encoding)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        report.print(console)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write the dataset to.")],
    accounts: Annotated[int, typer.Option(min=10, help="Number of key accounts.")] = 3000,
    months: Annotated[int, typer.Option(min=13, max=240, help="Months of history.")] = 36,
    start: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2023-11",
    seed: Annotated[int, typer.Option(help="Same seed, same dataset.")] = 20261129,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Write a simulated key-account portfolio (and its hidden truth under _truth/)."""
    from retention.data.simulator import SimulationConfig, simulate_to_folder

    config = SimulationConfig(accounts=accounts, months=months, start=start, seed=seed)
    summary = simulate_to_folder(config, out, fmt=fmt, console=err_console)
    summary.print(console)


@app.command()
def demo() -> None:
    """The main job on embedded defaults: simulate the demo portfolio, validate it, summarise."""
    from retention.demo import run_demo

    run_demo(Settings(), console)


if __name__ == "__main__":  # pragma: no cover
    app()
