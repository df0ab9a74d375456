"""Files only their owner may read: the store's and MLflow's SQLite databases hold password
and API key hashes and the model registry. Both the store and the model registry create one,
so this sits below both."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def private_file(path: Path) -> None:
    """Create a SQLite database file readable by its owner only (0600), or tighten one we
    own (and its -wal, -shm and -journal files). SQLite gives those the database file's
    mode, so they follow it from then on."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    companions = [path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal")]
    for file in (path, *companions):
        try:
            info = file.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            file.chmod(stat.S_IMODE(info.st_mode) & 0o600)
