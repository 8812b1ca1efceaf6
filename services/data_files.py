"""The server's files are its own: the data directory, the SQLite database, the key and the browser sessions are
readable and writable by the server's user alone (files 0600, directories 0700)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import settings
from services.database import sqlite_path

PRIVATE_UMASK = 0o077  # what the process creates from now on: no bits for group or others
SQLITE_COMPANIONS = ('-wal', '-shm', '-journal')


def make_private(config: settings.Settings, sessions_dir: Path) -> None:
    """Set the process umask (child processes, local jobs too, inherit it unless they set their own), and take group
    and other bits from what an earlier version left readable. Only the paths below are walked, not the whole tree:
    a 0700 data directory already keeps everyone else out of whatever else it holds (job directories, artifacts)."""
    os.umask(PRIVATE_UMASK)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    for path in _server_paths(config, sessions_dir):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & ~PRIVATE_UMASK != mode:
                path.chmod(mode & ~PRIVATE_UMASK)


def scratch_dir() -> Path:
    """Where the server writes a file for a moment (an upload on its way to the artifact store, a kept log): the data
    directory, private to the server's user and on the disk sized for data, not /tmp."""
    directory = settings.current.data_dir
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _server_paths(config: settings.Settings, sessions_dir: Path) -> Iterator[Path]:
    yield config.data_dir
    yield from config.data_dir.glob('*')  # the key, the default database, jobs/, sessions/
    if sessions_dir.is_dir():
        yield sessions_dir
        yield from sessions_dir.iterdir()
    if database := sqlite_path(config.database_url):
        yield database
        yield from (database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)
