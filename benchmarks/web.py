"""Page render times with 20,000 accounts in the store (issue target: well under a second).

A model trained on a small portfolio scores a 20,000-account portfolio into a SQLite store;
uvicorn serves the pages on 127.0.0.1 and a signed-in client times each page.
Run: .venv/bin/python benchmarks/web.py [--accounts N] [--repeat R]
"""

from __future__ import annotations

import argparse
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.features.catalogue import load_catalogue
from retention.model.registry import MODEL_NAME, load_version
from retention.scoring.batch import score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.batches import save_batch
from retention.store.database import open_store
from retention.store.users import create_user
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.rows import rows_from_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # 25,500 simulated accounts leave about 20,000 active (listed) at the snapshot.
    parser.add_argument("--accounts", type=int, default=25_500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("preparing the store ...", flush=True)
        write_result(simulate(SimulationConfig(accounts=3000, seed=5)), work / "train")
        config = load_config()
        result = fit_evaluate_log(
            rows_from_dataset(work / "train", config), config, 200, f"sqlite:///{tmp}/m.db", "web"
        )
        model = load_version(result.version)
        portfolio = Dataset(**simulate(SimulationConfig(accounts=args.accounts)).tables)
        scored = score_snapshot(
            portfolio, model, load_catalogue(), load_playbook(), WorkingCalendar(), capacity=200
        )
        url = f"sqlite:///{work / 'store.db'}"
        engine = open_store(url)
        save_batch(engine, scored, MODEL_NAME, result.version, 200, scored.snapshot.date())
        create_user(engine, "bench", "bench-password", "admin")
        app = create_app(
            Settings(database_url=url, work_dir=work),
            load_model=lambda: ServingModel(MODEL_NAME, result.version, model),
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        top = str(scored.accounts["customer_id"].iloc[0])
        region = str(scored.accounts["region"].iloc[0])
        pages = {
            "/list": "/list",
            "/list?band=high": "/list?band=high",
            "/list?region=…&sort=probability&page=3": (
                f"/list?region={region}&sort=probability&page=3"
            ),
            "/list?q=<id prefix>": f"/list?q={top[:5]}",
            "/list?tab=exit": "/list?tab=exit",
            "/accounts/{id}": f"/accounts/{top}",
            "/assessment": "/assessment",
            "/list.xlsx?band=high": "/list.xlsx?band=high",
        }
        results = {}
        with httpx.Client(base_url=base, timeout=120) as client:
            login = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
            client.post(
                "/login", data={"username": "bench", "password": "bench-password", "csrf": csrf}
            )
            for name, path in pages.items():
                times = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    response = client.get(path)
                    times.append(time.perf_counter() - began)
                    assert response.status_code == 200, (path, response.status_code)
                results[name] = np.array(times) * 1000
        server.should_exit = True
        thread.join(timeout=30)

    listed = len(scored.accounts) + len(scored.leaving)
    print(f"\n{listed:,} accounts in the store; {args.repeat} requests per page, one client")
    print(f"{'page':42s}{'p50 ms':>9s}{'p99 ms':>9s}{'max ms':>9s}")
    for name, values in results.items():
        print(
            f"{name:42s}{np.percentile(values, 50):9.1f}{np.percentile(values, 99):9.1f}"
            f"{values.max():9.1f}"
        )
    worst = max(np.percentile(v, 99) for v in results.values())
    print(f"[{'ok' if worst < 1000 else 'MISSED'}] every page p99 under 1 s (worst {worst:.0f} ms)")


if __name__ == "__main__":
    main()
