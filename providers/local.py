"""This machine: a job is a child process in a working directory of its own, its output the run's log.

What a job may see and touch (its user, directory, environment, python) is local_sandbox's to decide.

Pause is SIGSTOP, resume SIGCONT, stop SIGTERM and terminate SIGKILL, each to the job's whole process group; stop
returns at once, and the caller terminates a job still there a few polls later. A job runs in its own session and
writes its exit code to a file, so after an app restart it is found again by its process id (and start time, so a
reused pid is not mistaken for it), or its end is known from that file. It lasts as long as any process of its
group does: what it started may outlive its shell.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from providers.base import Capabilities, JobSpec, JobState, LogChunk, Phase, Product, ProviderError, UsageSample
from providers.local_sandbox import Sandbox

if TYPE_CHECKING:
    from settings import Settings

EXIT_FILE = '.exit_code'
PAUSED_FILE = '.paused'  # /proc's process state is not to be trusted in every sandbox: remember pauses ourselves
LOG_FILE = 'output.log'
LOG_READ_BYTES = 1 << 20


class LocalProvider:
    name = 'local'
    capabilities = Capabilities(label='This machine (local)', short_label='this machine', needs_credential=False,
                                runs_on_server=True, logs=True, pause_freezes=True)

    def __init__(self, jobs_dir: Path, *, price_per_hour: float = 0.0, run_as: str = 'nobody',
                 python: str = '') -> None:
        self.jobs_dir = jobs_dir
        self.sandbox = Sandbox(jobs_dir, run_as=run_as, python=python)
        self.price_per_hour = price_per_hour
        self._children: dict[int, subprocess.Popen] = {}  # reaped when they end, so they leave no zombies

    @classmethod
    def connect(cls, config: Settings, secret: str) -> LocalProvider:
        return cls(config.local_jobs_dir, price_per_hour=config.local_price_per_hour, run_as=config.local_run_as,
                   python=config.local_python)

    async def products(self) -> list[Product]:
        return [Product(id='local', name=f'This machine ({os.cpu_count()} CPUs)', price_per_hour=self.price_per_hour,
                        gpu_count=0)]

    async def launch(self, spec: JobSpec) -> str:
        python = await self.sandbox.python()
        try:
            run_dir, work = self.sandbox.prepare(spec.run_id, python)
        except OSError as error:
            raise ProviderError(f'Could not make the job\'s directory: {error}') from error
        # the shell records the command's exit code (the subshell keeps an `exit` in the command from skipping
        # that) in the file it got as its stdin, which the server opened in a directory the job cannot write to: no
        # link planted there, no pause forged; a job killed by SIGKILL leaves the file empty. The shell ignores the
        # SIGTERM of a stop, so that a job that checkpoints on it still has its exit code recorded; the command gets
        # SIGTERM's default back
        wrapped = f"trap '' TERM\nexec 9>&0 </dev/null\n(\ntrap - TERM\n{spec.command}\n) 9>&-\necho $? >&9"
        with (run_dir / LOG_FILE).open('ab') as log, (run_dir / EXIT_FILE).open('wb') as exit_code:
            try:
                process = subprocess.Popen(['/bin/sh', '-c', wrapped], cwd=work,
                                           env=self.sandbox.env(spec.run_id, work, spec.envs), stdin=exit_code,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                           **self.sandbox.identity(spec.run_id))
            except OSError as error:
                raise ProviderError(f'Could not start the command: {error}') from error
        self._children[process.pid] = process
        return f'{process.pid}:{_start_time(process.pid)}:{run_dir}'

    async def states(self, refs: list[str]) -> dict[str, JobState]:
        return {ref: self._state(ref) for ref in refs}

    async def jobs(self) -> dict[str, JobState]:
        return {}  # this machine's jobs are not listed: each is found by its own reference

    async def pause(self, ref: str) -> None:
        self._signal(ref, signal.SIGSTOP)
        (_run_dir(ref) / PAUSED_FILE).touch()

    async def resume(self, ref: str) -> None:
        self._signal(ref, signal.SIGCONT)
        (_run_dir(ref) / PAUSED_FILE).unlink(missing_ok=True)

    async def stop(self, ref: str) -> None:
        """SIGTERM, and a paused job is woken to receive it; returns at once (the leader's poll cycle must not wait
        here): a job that ignores it is still there, for terminate."""
        if not self._alive(ref):
            return
        self._signal(ref, signal.SIGTERM)
        self._signal(ref, signal.SIGCONT)
        (_run_dir(ref) / PAUSED_FILE).unlink(missing_ok=True)

    async def terminate(self, ref: str) -> None:
        self._signal(ref, signal.SIGKILL)
        self._reap(ref)

    async def logs(self, ref: str, cursor: str = '') -> LogChunk:
        """Whole lines from the byte offset `cursor` on (a line still being written waits for its end, unless the job
        has ended), at most LOG_READ_BYTES at a time."""
        offset = int(cursor or 0)
        path = _run_dir(ref) / LOG_FILE
        if not path.exists():
            return LogChunk(lines=[], cursor=str(offset))
        ended = not self._alive(ref)  # asked before reading: then what is read is all there will be
        with path.open('rb') as file:
            file.seek(offset)
            data = file.read(LOG_READ_BYTES)
        # once the job has ended its last line will not grow; before, a line is read when it is complete
        complete = data if ended and len(data) < LOG_READ_BYTES else data[:data.rfind(b'\n') + 1]
        lines = complete.decode(errors='replace').splitlines()
        return LogChunk(lines=lines, cursor=str(offset + len(complete)))

    async def gpu_usage(self, ref: str, since: float) -> list[UsageSample]:
        return []  # this machine's GPUs are not measured (yet)

    def _state(self, ref: str) -> JobState:
        self._reap(ref)
        if self._alive(ref):
            stopped = (_run_dir(ref) / PAUSED_FILE).exists()
            return JobState(ref=ref, phase=Phase.PAUSED if stopped else Phase.RUNNING,
                            raw='stopped' if stopped else 'running', billing=not stopped)
        code = _exit_code(_run_dir(ref))
        if code:
            if code == '0':
                return JobState(ref=ref, phase=Phase.SUCCEEDED, raw='exited 0')
            return JobState(ref=ref, phase=Phase.FAILED, raw=f'exited {code}', message=_ended(int(code)))
        return JobState(ref=ref, phase=Phase.FAILED, raw='vanished',
                        message='The process ended without an exit code: it was killed, or the machine restarted.')

    def _alive(self, ref: str) -> bool:
        """Whether any process of the job is left: its shell, or what it started (which may outlive the shell: a
        command that ignores SIGTERM, say), all in the process group the shell leads."""
        pid, started = _pid(ref), ref.split(':')[1]
        now = _start_time(pid)
        if now and now != started:  # the pid is another process's: it is not reused while our group has members
            return False
        return bool(now) and _proc_state(pid) not in {'Z', 'X'} or _group_has_members(pid)

    def _signal(self, ref: str, sig: signal.Signals) -> None:
        if self._alive(ref):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(_pid(ref), sig)

    def _reap(self, ref: str) -> None:
        child = self._children.get(_pid(ref))
        if child is not None and child.poll() is not None:
            del self._children[_pid(ref)]


def _pid(ref: str) -> int:
    return int(ref.split(':', 1)[0])


def _run_dir(ref: str) -> Path:
    """The run's directory: its log and exit code (and, for jobs launched before jobs had a work/, their files)."""
    return Path(ref.split(':', 2)[2])


def _ended(code: int) -> str:
    """A failed command's exit code in words; the shell reports a command killed by signal n as 128 + n."""
    with contextlib.suppress(ValueError):
        if code > 128:
            return f'The command was killed by {signal.Signals(code - 128).name} (exit code {code}).'
    return f'The command exited with code {code}.'


def _exit_code(run_dir: Path) -> str:
    try:
        with (run_dir / EXIT_FILE).open() as file:
            code = file.read(16).strip()
    except OSError:
        return ''
    return code if code.lstrip('-').isdigit() else ''


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    return text[text.rindex(')') + 2:].split()  # after "pid (comm) ": state is field 0, group 2, start time 19


def _group_has_members(group: int) -> bool:
    """Whether a live (not zombie) process is left in the process group."""
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[2] == str(group) \
                and fields[0] not in {'Z', 'X'}:
            return True
    return False


def _proc_state(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[0] if fields else None


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if fields else ''
