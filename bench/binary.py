"""The one-file binary: its size, and the time from starting it to the first page (the sign-in page, or the setup page
it sends a first start to) answering 200. The first start of a data directory also makes the database (a copy of the
one the build migrated); the later ones are the start a user waits for every day. Each start is a new process that
unpacks the binary again. The peer is `python main.py` from the checkout, started in turn with the binary: on a
machine others keep busy the wall times say more about them than about us, the CPU times and the peer less so.

    .venv/bin/python bench/binary.py [--binary dist/trainboard] [--build] [--starts 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import Figure, report  # noqa: E402
from tests.helpers import free_port  # noqa: E402

GOAL_S = 3.0


def time_to_first_page(command: list[str], home: Path, timeout: float = 120) -> tuple[float, float]:
    """Seconds from starting the command to a 200 on /login (redirects followed), and the CPU seconds it spent until
    it was stopped right after."""
    port = free_port()
    cpu_before = _children_cpu()
    env = {'PATH': os.environ['PATH'], 'HOME': str(home), 'LANG': 'C.UTF-8'}
    start = time.perf_counter()
    process = subprocess.Popen([*command, '--port', str(port), '--no-browser'], cwd=home, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            if process.poll() is not None:
                raise RuntimeError(f'the binary exited with {process.returncode}')
            try:
                if httpx.get(f'http://127.0.0.1:{port}/login', follow_redirects=True, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        else:
            raise RuntimeError(f'no page within {timeout} s')
        wall = time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(15)
    return wall, _children_cpu() - cpu_before


def _children_cpu() -> float:
    """User and system seconds of the ended child processes (the binary's bootloader and the app it unpacked)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--binary', type=Path, default=ROOT / 'dist' / 'trainboard')
    parser.add_argument('--build', action='store_true', help='build it first (make binary), even if it is there')
    parser.add_argument('--starts', type=int, default=5)
    args = parser.parse_args()
    if args.build or not args.binary.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / 'scripts' / 'build_binary.py'), '--dist', str(args.binary.parent)],
                       check=True)
        print(f'  built in {time.perf_counter() - started:.0f} s')
    print(f'  load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs')
    binary = [str(args.binary.resolve())]
    source = [sys.executable, str(ROOT / 'main.py'), '--data-dir']  # its data dir: the home it is started in
    with tempfile.TemporaryDirectory(prefix='trainboard-bench-') as home:
        first, _ = time_to_first_page(binary, Path(home))
        time_to_first_page([*source, home], Path(home))  # ... which the binary has migrated
        later, peer = [], []
        for _ in range(args.starts):
            later.append(time_to_first_page(binary, Path(home)))
            peer.append(time_to_first_page([*source, home], Path(home)))
    for name, starts in (('binary', later), ('python main.py', peer)):
        print(f'  {name}: {", ".join(f"{wall:.2f} s ({cpu:.2f} s CPU)" for wall, cpu in starts)}')
    print(f'  load average after: {os.getloadavg()[0]:.1f}')
    median = lambda starts, which: statistics.median(pair[which] for pair in starts)  # noqa: E731
    report(Figure('one-file binary size', 'Linux x86-64', args.binary.stat().st_size / 2**20, 'MiB'),
           Figure('binary start to first page, first start (makes the database)', 'SQLite', first, 's'),
           Figure(f'binary start to first page, median of {args.starts} starts', 'SQLite', median(later, 0), 's',
                  goal=GOAL_S, lower_is_better=True, peer=median(peer, 0), peer_name='python main.py'),
           Figure(f'CPU time of a binary start to its first page, median of {args.starts}', 'SQLite',
                  median(later, 1), 's', goal=GOAL_S, lower_is_better=True, peer=median(peer, 1),
                  peer_name='python main.py'))


if __name__ == '__main__':
    main()
