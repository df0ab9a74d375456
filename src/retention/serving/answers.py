"""A finished POST /v1/score response as it crosses from a worker process to the server:
made by on_demand in the worker, sent back by score_workers, written out by the router."""

from __future__ import annotations

import json
from typing import NamedTuple


class Answer(NamedTuple):
    """A worker's finished response: status, JSON body, accounts scored."""

    status: int
    body: bytes
    scored: int = 0


def error_answer(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False)
    return Answer(status, body.encode("utf-8"))
