"""Writing a scoring batch to the store: rows per second of `save_batch`, every table.

Makes a batch of N accounts (default 100,000: a small simulated portfolio scored, its
accounts repeated under new ids, see `scored_list`) and times `save_batch` of the whole batch
(scores, reasons, actions, peer medians, expected effects, assignments) into each store given:
a fresh schema of the PostgreSQL (dropped after) and a temporary SQLite file. The batch can be
kept in a pickle (--scored), so the write is timed again on other code without making it anew.
Run: .venv/bin/python benchmarks/store.py [--accounts N] [--store URL ...] [--scored PATH]
     (default stores: postgresql+psycopg://postgres@127.0.0.1:5432/test and SQLite)
"""

from __future__ import annotations

import argparse
import datetime as dt
import pickle
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.features.catalogue import load_catalogue
from retention.model.registry import load_version
from retention.records.batch import ScoredList
from retention.scoring.assignment import assign
from retention.scoring.batch import score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.store.batches import save_batch
from retention.store.database import open_store, safe_url
from retention.tariffs.tables import load_tariffs
from retention.training.config import LightGBMConfig, TrainingConfig
from retention.training.pipeline import fit_evaluate_log
from retention.training.rows import rows_from_dataset
from support.postgres import fresh_schema

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CAPACITY = 200


def scored_list(accounts: int, base_accounts: int, tmp: Path) -> ScoredList:
    """A batch of `accounts`: a small portfolio scored (its model trained on it, quickly) and
    its accounts repeated under new ids until there are `accounts` of them, each with its
    reasons, actions and expected effects. The rows have a real batch's shape, without
    simulating and scoring 100,000 accounts (benchmarks/score.py times that)."""
    print(f"training and scoring {base_accounts:,} accounts ...", flush=True)
    simulation = simulate(SimulationConfig(accounts=base_accounts, seed=11))
    write_result(simulation, tmp / "train")
    config = TrainingConfig(
        name="bench",
        lightgbm=LightGBMConfig(learning_rate=0.1, max_rounds=200, early_stopping_rounds=30),
    )
    result = fit_evaluate_log(
        rows_from_dataset(tmp / "train", config),
        config,
        CAPACITY,
        f"sqlite:///{tmp}/mlflow.db",
        "bench",
    )
    playbook = load_playbook()
    small = score_snapshot(
        Dataset(**simulation.tables),
        load_version(result.version),
        load_catalogue(),
        playbook,
        WorkingCalendar(),
        capacity=CAPACITY,
        tariffs=load_tariffs(),
    )
    copies = -(-accounts // (len(small.accounts) + len(small.leaving)))

    def repeated(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat(
            [frame.assign(customer_id=frame["customer_id"] + f"-{k:03d}") for k in range(copies)],
            ignore_index=True,
        )

    ranked = repeated(small.accounts).sort_values("money_at_risk_cny", ascending=False)
    scored = replace(
        small,
        accounts=ranked.assign(rank=range(1, len(ranked) + 1)).reset_index(drop=True),
        leaving=repeated(small.leaving),
        reasons=repeated(small.reasons),
        actions=repeated(small.actions),
        effects=repeated(small.effects),
    )
    return assign(scored, CAPACITY, playbook.assignment)


@contextmanager
def fresh_store(url: str, tmp: Path) -> Iterator[str]:
    """The URL of an empty store: a new schema of a PostgreSQL (dropped after), or a new
    SQLite file in the temporary folder ("sqlite" alone)."""
    if url == "sqlite":
        yield f"sqlite:///{tmp / f'store-{uuid.uuid4().hex[:6]}.db'}"
        return
    with fresh_schema(url, "bench_store") as schema_url:
        assert schema_url is not None
        yield schema_url


def rows_of(scored: ScoredList) -> dict[str, int]:
    return {
        "scores": len(scored.accounts) + len(scored.leaving),
        "reasons": len(scored.reasons),
        "actions": len(scored.actions),
        "peer_medians": len(scored.peers),
        "expected_effects": len(scored.effects),
        "assignments": len(scored.assignments),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--base-accounts", type=int, default=2_000, help="scored, then repeated")
    parser.add_argument("--store", action="append", help="a store URL, or sqlite (repeatable)")
    parser.add_argument("--runs", type=int, default=2, help="writes per store (best is shown)")
    parser.add_argument("--scored", type=Path, help="pickle of the scored list (made if absent)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.scored is not None and args.scored.exists():
            scored = pickle.loads(args.scored.read_bytes())
        else:
            scored = scored_list(args.accounts, args.base_accounts, Path(tmp))
            if args.scored is not None:
                args.scored.write_bytes(pickle.dumps(scored))
        counts = rows_of(scored)
        total = sum(counts.values())
        print(" · ".join(f"{name} {rows:,}" for name, rows in counts.items()))
        for url in args.store or [POSTGRES, "sqlite"]:
            with fresh_store(url, Path(tmp)) as store:
                engine = open_store(store)
                seconds = []
                for run in range(args.runs):
                    began = time.perf_counter()
                    save_batch(engine, scored, "bench", str(run), CAPACITY, dt.date.today())
                    seconds.append(time.perf_counter() - began)
                engine.dispose()
            best = min(seconds)
            print(
                f"{safe_url(url) if url != 'sqlite' else 'sqlite':55s} {total:,} rows in "
                f"{best:6.1f} s = {total / best:9,.0f} rows/s "
                f"(runs: {', '.join(f'{s:.1f}' for s in seconds)} s)"
            )


if __name__ == "__main__":
    main()
