"""Build Trainboard as one file with PyInstaller: `make binary` (or `python scripts/build_binary.py --dist DIR`).

PyInstaller is called directly, not through `nicegui-pack`, which cannot add the hidden imports Tortoise needs (its
database backends and our migrations are imported by name at run time; stack notes 1.9). No .spec file: this
command line is the whole recipe.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.database import NEW_SQLITE_DATABASE  # noqa: E402

HOOKS = Path(__file__).resolve().parent / 'pyinstaller_hooks'  # ours: what botocore and NiceGUI bring, trimmed
NAME = 'trainboard'
HIDDEN_IMPORTS = [
    'tortoise.backends.sqlite', 'tortoise.backends.asyncpg', 'asyncpg',  # found by name from the database URL
    'aiosqlite',
]
SUBMODULES = ['models.migrations']  # Tortoise lists and imports them by name
DATA = [  # files of ours read at run time, next to the modules that read them: (path in the checkout, folder)
    ('sdk/trainboard.py', 'sdk'),  # handed out at /sdk/trainboard.py, and copied for local jobs
    ('examples/sample_job.py', 'examples'),  # the live sample run's script
    ('examples/train_mlp.py', 'examples'),  # the New run dialog's example, copied for local jobs
    ('components/log_box.js', 'components'),  # a NiceGUI component's Vue side
]
# installed in the dev venv for tests and examples, never imported by the app: left out, the build is smaller and
# faster (and a module that does get imported would fail the binary's test, not pass unnoticed)
EXCLUDES = ['torch', 'transformers', 'accelerate', 'mlflow', 'numpy', 'pandas', 'scipy', 'sympy', 'playwright',
            'pytest', 'moto', 'schemathesis', 'hypothesis', 'aiosmtpd', 'tkinter', 'IPython', 'matplotlib',
            'PyInstaller', 'setuptools', 'pip']


def command(dist: Path, work: Path) -> list[str]:
    args = [sys.executable, '-m', 'PyInstaller', '--onefile', '--name', NAME, '--noconfirm',
            '--log-level', 'WARN', '--distpath', str(dist), '--workpath', str(work / 'build'),
            '--specpath', str(work), '--paths', str(ROOT), '--copy-metadata', NAME, '--strip',
            '--additional-hooks-dir', str(HOOKS)]
    args += [f'--hidden-import={name}' for name in HIDDEN_IMPORTS]
    args += [f'--collect-submodules={name}' for name in SUBMODULES]
    args += [f'--add-data={ROOT / path}{os.pathsep}{folder}' for path, folder in DATA]
    args += [f'--add-data={migrated_database(work)}{os.pathsep}models']
    args += [f'--exclude-module={name}' for name in EXCLUDES]
    return [*args, str(ROOT / 'main.py')]


def migrated_database(work: Path) -> Path:
    """A new SQLite database with every migration applied, which a first start copies instead of migrating one
    (services.database.NEW_SQLITE_DATABASE): the binary's first page 2 s sooner."""
    path = (work / NEW_SQLITE_DATABASE.name).resolve()  # the migration runs in ROOT, this process where it was started
    path.unlink(missing_ok=True)
    subprocess.run([sys.executable, '-c', 'import asyncio, sys; from services import database; '
                    "asyncio.run(database.migrate_database('sqlite://' + sys.argv[1]))", str(path)],
                   cwd=ROOT, check=True)
    with contextlib.closing(sqlite3.connect(path)) as db:  # all in the one file: the copy takes no -wal along
        db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    return path


def build(dist: Path, work: Path | None = None) -> Path:
    """Build into `dist`; the binary's path. `work` holds PyInstaller's intermediate files (a temporary dir if None)."""
    with tempfile.TemporaryDirectory(prefix='trainboard-build-') as scratch:
        subprocess.run(command(dist, work or Path(scratch)), cwd=ROOT, check=True)
    return dist / NAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dist', type=Path, default=ROOT / 'dist', help='where the binary goes (default: dist/)')
    parser.add_argument('--work', type=Path, help="where PyInstaller's build files go (default: a temporary dir)")
    args = parser.parse_args()
    binary = build(args.dist.resolve(), args.work)
    print(f'{binary}: {binary.stat().st_size / 2**20:.1f} MiB')


if __name__ == '__main__':
    main()
