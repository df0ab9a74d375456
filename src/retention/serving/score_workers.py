"""POST /v1/score runs in worker processes, never in the server's own.

Parsing a body, the contract's checks, the features and the model are CPU work in Python: on
the server's event loop (or in a thread, holding its GIL) one large or pathological body would
stall every other request, and its memory would stay with the server. A worker process holds
the served model and answers a body with a finished response; the server only reads the
bounded body, checks the key and forwards the answer. A worker that dies (killed, out of
memory) costs its one request a 503 and is replaced.

Workers fork from a server process that has imported the scoring code once (multiprocessing's
forkserver), so starting them takes milliseconds, and each holds a copy of the model of the
pool that started it: a promoted champion gets a new pool (see `replaced`).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import pickle
import signal
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from typing import TYPE_CHECKING

from retention.serving.answers import Answer, error_answer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from retention.serving.model import ServingModel

# What the forkserver imports once, so every worker starts with it loaded.
PRELOAD = ["retention.serving.on_demand"]
QUEUE_PER_WORKER = 4  # requests waiting per worker before the server answers 503


class ScoreWorkers:
    """A pool of worker processes, each holding `serving` (one model version)."""

    def __init__(
        self, serving: ServingModel, store_url: str, workers: int, medium_probability: float
    ) -> None:
        self.version = serving.version
        self.workers = workers
        self._start = (pickle.dumps(serving), store_url, medium_probability)
        self._pool = self._new_pool()
        self._waiting = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start_worker, initargs=self._start
        )

    def warm(self) -> None:
        """Start every worker now (in the background), not on the first request."""
        for _ in range(self.workers):
            self._pool.submit(_ready)

    def replaced(self, serving: ServingModel) -> ScoreWorkers:
        """A new pool with the same settings for a newly loaded model."""
        _, store_url, medium_probability = self._start
        fresh = ScoreWorkers(serving, store_url, self.workers, medium_probability)
        fresh.warm()
        return fresh

    async def score(self, body: bytes) -> Answer:
        """The response to one POST /v1/score body."""
        if self._waiting >= self.workers * QUEUE_PER_WORKER:
            return error_answer(
                503, "scoring_busy", "评分请求过多，请稍后重试 / too many scoring requests: retry"
            )
        self._waiting += 1
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(_score, body))
        except BrokenExecutor:
            # A worker died mid-request (killed, out of memory): replace the pool once.
            if self._pool is pool:
                self._pool = self._new_pool()
                pool.shutdown(wait=False)
            return error_answer(
                503,
                "scoring_unavailable",
                "评分进程异常退出，请重试 / a scoring worker stopped: retry",
            )
        finally:
            self._waiting -= 1

    def pids(self) -> list[int]:
        """The worker processes running now (for operations, and tests that kill one)."""
        return list(self._pool._processes or {})

    def close(self, wait: bool = False) -> None:
        """Stop taking work; requests already given to a worker finish."""
        self._pool.shutdown(wait=wait)


# --- in the worker process --------------------------------------------------------------------

_SERVING: ServingModel | None = None
_ENGINE: Engine | None = None
_MEDIUM_PROBABILITY = 0.10


def _start_worker(serving: bytes, store_url: str, medium_probability: float) -> None:
    global _SERVING, _ENGINE, _MEDIUM_PROBABILITY
    from retention.store.database import engine_for

    # Ctrl-C reaches the whole process group: the server stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    _SERVING = pickle.loads(serving)
    _ENGINE = engine_for(store_url)
    _MEDIUM_PROBABILITY = medium_probability
    # The libraries and the model live as long as the worker: keep them out of the garbage
    # collector's full passes, which otherwise add tens of ms to some requests (the p99).
    gc.collect()
    gc.freeze()


def _ready() -> bool:
    return _SERVING is not None


def _score(body: bytes) -> Answer:
    from retention.data.local_time import local_today
    from retention.serving.on_demand import answer

    assert _SERVING is not None and _ENGINE is not None, "the worker was not started"
    return answer(body, _SERVING, _ENGINE, _MEDIUM_PROBABILITY, local_today())
