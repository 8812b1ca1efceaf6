"""Where, as whom and with what a local job runs, so that it sees nothing of the server's.

A job's environment is built from nothing: the server's own holds its secrets (the admin password, the key, a
database URL, cloud credentials). Its directory is outside the data dir. And a server running as root starts each
job as an unprivileged user (`nobody` by default) with a group of the run's own and no other groups: jobs share
that user, so the group is what keeps one run out of another's directory and its processes' /proc entries (but a
job may still signal another's processes, or read files it left outside its directory); `per-run` gives each run
a user id of its own too, which needs no account.
A server that is not root cannot switch users: its jobs run as itself.

    <jobs dir>/                  the server's, traversable by all (0711)
        bin/python, bin/python3  run the chosen interpreter: the `python` a job finds first on its PATH
        sdk/trainboard.py        a copy of the app's SDK, on every job's PYTHONPATH: a job's user may not be able to
                                 read the app's own (in root's home, or inside the one-file binary)
        examples/train_mlp.py    a copy of the example the New run dialog offers, for the same reason
        run-<id>/                the server's, its run group may read (0750): the job cannot forge what is here
            output.log           the job's output, written through a descriptor the server opened
            .exit_code           written by the job's shell through such a descriptor too
            .paused              a pause the server remembers
            work/                the job's own: its working directory and HOME (0770, the run's group)
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from providers.base import ProviderError

log = logging.getLogger(__name__)
ID_BASE = 1_500_000_000  # a run's group (and per-run user) is ID_BASE + its id: far above any a system hands out
PER_RUN = 'per-run'  # the run_as that gives every run a user id of its own
SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin'
FALLBACK_PYTHON = '/usr/bin/python3'  # the system's, which any user may run (the app's may be in root's home)
SDK_FILE = Path(__file__).resolve().parent.parent / 'sdk' / 'trainboard.py'  # in the binary, unpacked with the app
EXAMPLE_FILE = Path(__file__).resolve().parent.parent / 'examples' / 'train_mlp.py'
PROBE_TIMEOUT_S = 20.0


class Sandbox:
    def __init__(self, root: Path, *, run_as: str = 'nobody', python: str = '') -> None:
        self.root = root
        self.run_as = run_as if os.geteuid() == 0 else ''  # only root can start a process as someone else
        if run_as and not self.run_as:
            log.warning('local jobs run as this server\'s own user: only a server running as root can run them as '
                        '"%s"', run_as)
        self.configured_python = python
        self._python = ''  # the interpreter found to work, once found

    def identity(self, run_id: int) -> dict[str, Any]:
        """subprocess.Popen's arguments that start a run's job as its own user and group (none: as the server)."""
        if not self.run_as:
            return {}
        user = ID_BASE + run_id if self.run_as == PER_RUN else self.run_as
        return {'user': user, 'group': ID_BASE + run_id, 'extra_groups': [], 'umask': 0o007}

    def prepare(self, run_id: int, python: str) -> tuple[Path, Path]:
        """The run's directory (the server's) and its work directory (the job's), made and owned as above."""
        self._prepare_root(python)
        run_dir = self.root / f'run-{run_id}'
        work = run_dir / 'work'
        # a run id seen before (the database was made anew) must not hand on the files and log of the run it was
        shutil.rmtree(run_dir, ignore_errors=True)
        for path, mode in ((run_dir, 0o750), (work, 0o770)):
            path.mkdir()
            if self.run_as:
                os.chown(path, 0, ID_BASE + run_id)
            path.chmod(mode if self.run_as else 0o700)
        return run_dir, work

    def env(self, run_id: int, work: Path, envs: dict[str, str]) -> dict[str, str]:
        """Nothing of the server's environment: a PATH with our `python` first, HOME, LANG, and the run's own."""
        # a user id without an account has no name to look up: getpass.getuser() (torch calls it) reads USER
        account = {'USER': f'run-{run_id}', 'LOGNAME': f'run-{run_id}'} if self.run_as == PER_RUN else {}
        return {'PATH': f'{self.root / "bin"}{os.pathsep}{SYSTEM_PATH}', 'HOME': str(work),
                'LANG': os.environ.get('LANG') or 'C.UTF-8', **account, **envs,
                'PYTHONPATH': str(self.root / 'sdk'), 'PYTHONUNBUFFERED': '1'}  # `import trainboard` just works

    async def python(self) -> str:
        """The interpreter a job's `python` runs: the configured one, else the app's own when the job's user can run
        it, else the system's. Refused, saying what to set, when the job's user can run none of them."""
        if self._python:
            return self._python
        who = {'': pwd.getpwuid(os.geteuid()).pw_name, PER_RUN: 'one per run'}.get(self.run_as, self.run_as)
        if self.run_as not in {'', PER_RUN}:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise ProviderError(f'There is no user "{self.run_as}" on this machine to run jobs as: set '
                                    'TRAINBOARD_LOCAL_RUN_AS to one.') from None
        # absolute, so that the `python` shim cannot end up running itself
        configured = shutil.which(self.configured_python) or self.configured_python if self.configured_python else ''
        candidates = [configured] if configured else [_app_python(), FALLBACK_PYTHON]
        for candidate in filter(None, candidates):
            if await self._runs(candidate):
                self._python = candidate
                return candidate
        if self.configured_python:
            raise ProviderError(f'{self.configured_python} cannot be run by the user local jobs run as ({who}): set '
                                'TRAINBOARD_LOCAL_PYTHON to a Python that user can run.')
        raise ProviderError(f'No Python that the user local jobs run as ({who}) can run was found: set '
                            'TRAINBOARD_LOCAL_PYTHON to one, or install python3.')

    async def _runs(self, python: str) -> bool:
        if not self.run_as:
            return Path(python).exists()
        try:  # in a thread: uvloop's subprocesses cannot switch users
            probe = await asyncio.to_thread(subprocess.run, [python, '-c', ''], env={'PATH': SYSTEM_PATH}, cwd='/',
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S, **self.identity(0))
        except (OSError, subprocess.TimeoutExpired):
            return False
        return probe.returncode == 0

    def _prepare_root(self, python: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        found = self.root.lstat()  # in /tmp by default: a directory someone else made there must not be used
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
            raise ProviderError(f'{self.root} is not a directory of this server\'s own: set '
                                'TRAINBOARD_LOCAL_JOBS_DIR to one that is.')
        self.root.chmod(0o711 if self.run_as else 0o700)
        bin_dir = self.root / 'bin'
        bin_dir.mkdir(exist_ok=True)
        bin_dir.chmod(0o755)  # set, not asked of mkdir: the server's umask (077, services/data_files.py) would mask it
        # a script, not a link: a link to a virtualenv's python would not start that virtualenv
        shim = f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n'
        for name in ('python', 'python3'):
            _install(bin_dir / name, shim, 0o755)
        sdk_dir = self.root / 'sdk'
        sdk_dir.mkdir(exist_ok=True)
        sdk_dir.chmod(0o755)
        _install(sdk_dir / SDK_FILE.name, SDK_FILE.read_text(), 0o644)
        examples_dir = self.root / 'examples'
        examples_dir.mkdir(exist_ok=True)
        examples_dir.chmod(0o755)
        _install(examples_dir / EXAMPLE_FILE.name, EXAMPLE_FILE.read_text(), 0o644)


def example_script(jobs_dir: Path) -> Path:
    """The example a new user launches first: the checkout's own, or, in the one-file binary (whose files are unpacked
    where a job's user cannot read them), the copy a sandbox in `jobs_dir` keeps."""
    return jobs_dir / 'examples' / EXAMPLE_FILE.name if getattr(sys, 'frozen', False) else EXAMPLE_FILE


def _app_python() -> str:
    """The interpreter the app runs on; in the one-file binary sys.executable is the binary itself, so the python3
    on the server's PATH ('' when there is none)."""
    if getattr(sys, 'frozen', False):
        return shutil.which('python3') or ''
    return sys.executable


def _install(path: Path, text: str, mode: int) -> None:
    """Write the file unless it already says `text`; whole, through a rename, so a starting job never reads half."""
    if path.exists() and path.read_text() == text:
        return
    staged = path.with_name(f'.{path.name}.new')
    staged.write_text(text)
    staged.chmod(mode)
    staged.replace(path)
