"""`make bench`: every benchmark under bench/, one after another, then bench/RESULTS.md from the figures they reported.

    .venv/bin/python bench/run_all.py [--peers] [--only NAME ...] [--timeout-min 25] [--render]

A benchmark is any bench/*.py with a `__main__` block (figures.py, a module, is not; nor this runner), so a new
script is included when it lands. Each runs with the sizes in SIZES (smaller than some defaults, so that the whole
run takes about 20 minutes on a 2-core machine), on PostgreSQL too when TRAINBOARD_TEST_POSTGRES_URL is set (the
scripts read it), and with --peers when asked and the script has peers. Its figures come back through
bench/figures.py (TRAINBOARD_BENCH_FIGURES, one file per script); its output and figures are kept in .bench/last-run/,
from which --render writes RESULTS.md again without running anything. A script that fails or times out is listed as
failed with the tail of its output, and the rest still run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / 'bench'
sys.path.insert(0, str(ROOT))

from bench.figures import Figure, number  # noqa: E402

RUN_DIR = ROOT / '.bench' / 'last-run'
RESULTS = BENCH / 'RESULTS.md'
NOT_BENCHMARKS = {'run_all.py', 'figures.py'}
# arguments where a script's own default is sized for a bigger machine or a longer wait (said in RESULTS.md), or
# where it needs a port of its own; the rest run as they are
SIZES: dict[str, list[str]] = {
    'artifacts.py': ['--size-mib', '256', '--rounds', '2'],
    'downsample.py': ['--points', '2000000'],
    'logs.py': ['--lines', '500000'],
    'workbench.py': ['--port', '9360'],
    'mlflow_ingest.py': ['--seconds', '10', '--threads', '8', '--history-points', '100000'],
    'ingest.py': ['--stored', '10000000'],  # issue 14's batched goal holds with 10M points stored
}
SMALLER = {'artifacts.py': 'a 256 MiB file (default 1 GiB)', 'downsample.py': '2,000,000 points (default 10,000,000)',
           'logs.py': '500,000 lines (default 1,000,000)'}
TAIL_LINES = 40


@dataclass
class Outcome:
    script: str
    command: list[str]
    seconds: float = 0.0
    returncode: int | None = None  # None: timed out
    load: float = 0.0  # the machine's load average over the last minute, when it ended
    output: str = ''
    figures: list[Figure] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.returncode != 0

    def to_json(self) -> dict:
        return {'script': self.script, 'command': self.command, 'seconds': self.seconds,
                'returncode': self.returncode, 'load': self.load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--peers', action='store_true', help='measure peers too (installs them where a script does)')
    parser.add_argument('--only', nargs='*', default=[], help='these scripts only (e.g. poller.py compare)')
    parser.add_argument('--timeout-min', type=float, default=25.0, help='per script')
    parser.add_argument('--render', action='store_true', help=f'write {RESULTS.name} from {RUN_DIR} only')
    parser.add_argument('--out', type=Path, default=RESULTS)
    args = parser.parse_args()
    if not args.render:
        run_everything(args)
    write_results(args.out)
    print(f'wrote {args.out}')


def benchmarks() -> list[Path]:
    return [path for path in sorted(BENCH.glob('*.py'))
            if path.name not in NOT_BENCHMARKS and "__name__ == '__main__'" in path.read_text(encoding='utf-8')]


def run_everything(args: argparse.Namespace) -> None:
    wanted = {name if name.endswith('.py') else f'{name}.py' for name in args.only}
    scripts = [path for path in benchmarks() if not wanted or path.name in wanted]
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for old in RUN_DIR.iterdir():
        old.unlink()
    meta = {'started': _now(), 'load_before': os.getloadavg(), 'peers': args.peers,
            'postgres': bool(os.environ.get('TRAINBOARD_TEST_POSTGRES_URL')), 'outcomes': []}
    for path in scripts:
        outcome = run_one(path, args.peers, args.timeout_min * 60)
        meta['outcomes'].append(outcome.to_json())
        state = 'ok' if not outcome.failed else ('TIMED OUT' if outcome.returncode is None else 'FAILED')
        print(f'== {path.name}: {state} in {outcome.seconds:.0f} s', flush=True)
        # after every script, so that RESULTS.md can be written (--render) from a run cut short
        meta.update(finished=_now(), load_after=os.getloadavg())
        (RUN_DIR / 'run.json').write_text(json.dumps(meta, indent=1), encoding='utf-8')


def run_one(path: Path, peers: bool, timeout_s: float) -> Outcome:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    command = [sys.executable, str(shown), *SIZES.get(path.name, [])]
    if peers and "'--peers'" in path.read_text(encoding='utf-8'):
        command.append('--peers')
    figures_file, log_file = RUN_DIR / f'{path.stem}.figures.jsonl', RUN_DIR / f'{path.stem}.log'
    env = {**os.environ, 'TRAINBOARD_BENCH_FIGURES': str(figures_file), 'PYTHONUNBUFFERED': '1'}
    print(f'== {path.name}: {" ".join(command[1:])}', flush=True)
    outcome = Outcome(path.name, command[1:])
    started = time.perf_counter()
    # a session of its own, so that a timeout ends the script's servers and browsers with it
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors='replace', start_new_session=True)
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        os.killpg(process.pid, signal.SIGTERM)
    timer = threading.Timer(timeout_s, stop)
    timer.start()
    with log_file.open('w', encoding='utf-8') as log:
        for line in process.stdout:
            print(f'  | {line}', end='', flush=True)
            log.write(line)
    process.wait()
    timer.cancel()
    outcome.seconds = time.perf_counter() - started
    outcome.returncode = None if timed_out.is_set() else process.returncode
    outcome.load = os.getloadavg()[0]
    return outcome


def load_outcomes() -> tuple[dict, list[Outcome]]:
    meta = json.loads((RUN_DIR / 'run.json').read_text(encoding='utf-8'))
    outcomes = []
    for saved in meta['outcomes']:
        outcome = Outcome(saved['script'], saved['command'], saved['seconds'], saved['returncode'],
                          saved.get('load', 0.0))
        stem = Path(saved['script']).stem
        log, figures = RUN_DIR / f'{stem}.log', RUN_DIR / f'{stem}.figures.jsonl'
        outcome.output = log.read_text(encoding='utf-8', errors='replace') if log.exists() else ''
        if figures.exists():
            outcome.figures = [Figure(**json.loads(line)) for line in figures.read_text(encoding='utf-8').splitlines()
                               if line.strip()]
        outcomes.append(outcome)
    return meta, outcomes


def write_results(out: Path) -> None:
    meta, outcomes = load_outcomes()
    out.write_text(render(meta, outcomes), encoding='utf-8')


def render(meta: dict, outcomes: list[Outcome]) -> str:
    lines = ['# Benchmark results', '',
             f'Written by `make bench` (bench/run_all.py). Run from {meta["started"]} to {meta["finished"]} UTC, '
             f'{_minutes(outcomes)} in all.', '',
             *machine_lines(meta),
             '- Sizes: each script\'s command line is under its heading. Smaller than the script\'s default, so that '
             'the whole run takes about 20 minutes on two cores: '
             + '; '.join(f'{name}, {what}' for name, what in SMALLER.items()) + '.', '',
             '| script | state | time | load at its end | figures | goals met |', '|---|---|---|---|---|---|']
    for outcome in outcomes:
        goals = [f for f in outcome.figures if f.goal is not None]
        lines.append(f'| {outcome.script} | {_state(outcome)} | {outcome.seconds:.0f} s | {outcome.load:.1f} | '
                     f'{len(outcome.figures)} | '
                     f'{sum(1 for f in goals if f.met)} of {len(goals)} |')
    lines.append('')
    missed = [f for o in outcomes for f in o.figures if f.met is False]
    failed = [o for o in outcomes if o.failed]
    lines += ['## Not met, and failed', '']
    if not missed and not failed:
        lines.append('Every goal met; no script failed.')
    for figure in missed:
        lines.append(f'- **{figure.what}** ({figure.where}, {figure.source}): {_value(figure)}, goal '
                     f'{_goal(figure)}')
    for outcome in failed:
        lines.append(f'- **{outcome.script}**: {_state(outcome)}, the tail of its output is in its section')
    met = sum(1 for o in outcomes for f in o.figures if f.met)
    goals = sum(1 for o in outcomes for f in o.figures if f.goal is not None)
    lines += ['', f'{met} of {goals} goals met; {len(outcomes) - len(failed)} of {len(outcomes)} scripts ran to the '
              'end. A ratio is how many times better than the peer (above 1 is better, whichever way the unit '
              'goes).', '']
    for outcome in outcomes:
        lines += script_section(outcome)
    return '\n'.join(lines).rstrip() + '\n'


def machine_lines(meta: dict) -> list[str]:
    postgres = meta['postgres'] and 'PostgreSQL ' + (_postgres_version() or '(version unknown)')
    before, after = (', '.join(f'{x:.1f}' for x in meta[key]) for key in ('load_before', 'load_after'))
    busiest = max(meta['load_before'][0], meta['load_after'][0], meta['load_after'][1],
                  *(saved.get('load', 0.0) for saved in meta['outcomes']))
    # a benchmark's own server, clients and database keep about one more than the cores busy: only above that is
    # the load other work's
    caveat = [] if busiest < os.cpu_count() + 1 else [
        f'- **Caveat: the machine was busy.** A load average of up to {busiest:.0f} on {os.cpu_count()} cores: '
        'other work (tests, servers, browsers of other sessions) shared the CPU with every benchmark, so absolute '
        'figures are lower, and noisier, than on a quiet machine; compare ratios with peers rather than figures '
        'with goals alone.']
    return [
        f'- Machine: {os.cpu_count()} cores ({_cpu_model()}), {_memory_gib():.0f} GiB memory, {_os_name()}, '
        f'Python {platform.python_version()}',
        f'- Databases: SQLite {_sqlite_version()}' + (f' and {postgres} (TRAINBOARD_TEST_POSTGRES_URL)' if postgres
                                                     else ' only (TRAINBOARD_TEST_POSTGRES_URL was not set)'),
        f'- Peers: {"measured in this run (--peers)" if meta["peers"] else "not measured (run with --peers)"}',
        f'- Load average (1, 5, 15 min) before: {before}; after: {after}. The machine may be shared: other work '
        'running meanwhile lowers every figure, ours and the peers\' alike (a peer is measured in the same run, '
        'so a ratio holds up better than an absolute figure).',
        *caveat,
    ]


def script_section(outcome: Outcome) -> list[str]:
    lines = [f'## {outcome.script}', '', *([summary, ''] if (summary := _summary(outcome.script)) else []),
             f'`{" ".join(outcome.command)}`: {_state(outcome)}, {outcome.seconds:.0f} s.', '']
    if outcome.figures:
        lines += ['| figure | where | value | goal | met? | peer | ratio |', '|---|---|---|---|---|---|---|']
        for f in outcome.figures:
            met = '' if f.met is None else ('yes' if f.met else '**NO**')
            peer = f'{number(f.peer)} {f.unit} ({f.peer_name})' if f.peer is not None else ''
            ratio = f'{f.ratio:.2f}x' if f.ratio is not None else ''
            goal = _goal(f) if f.goal is not None else ''
            lines.append(f'| {_cell(f.what)} | {_cell(f.where)} | {_value(f)} | {goal} | {met} | {_cell(peer)} '
                         f'| {ratio} |')
        lines.append('')
    if outcome.failed:
        tail = outcome.output.rstrip().splitlines()[-TAIL_LINES:]
        lines += [f'The last {len(tail)} lines of its output:', '', '```', *tail, '```', '']
    elif not outcome.figures:
        lines += ['It reported no figures through bench/figures.py; what it printed:', '', '```',
                  *outcome.output.rstrip().splitlines()[-TAIL_LINES:], '```', '']
    return lines


def _summary(script: str) -> str:
    """The first paragraph of the script's docstring: what it measures, in its own words."""
    try:
        docstring = ast.get_docstring(ast.parse((BENCH / script).read_text(encoding='utf-8'))) or ''
    except (OSError, SyntaxError):
        return ''
    return ' '.join(docstring.split('\n\n')[0].split())


def _state(outcome: Outcome) -> str:
    if outcome.returncode is None:
        return '**timed out**'
    return f'**failed** (exit {outcome.returncode})' if outcome.failed else 'ok'


def _value(figure: Figure) -> str:
    return f'{number(figure.value)} {figure.unit}'


def _goal(figure: Figure) -> str:
    return f'{"≤" if figure.lower_is_better else "≥"} {number(figure.goal)} {figure.unit}'


def _cell(text: str) -> str:
    return text.replace('|', '\\|')


def _minutes(outcomes: list[Outcome]) -> str:
    return f'{sum(o.seconds for o in outcomes) / 60:.1f} min'


def _now() -> str:
    return datetime.now(UTC).strftime('%Y-%m-%d %H:%M')


def _cpu_model() -> str:
    with open('/proc/cpuinfo', encoding='utf-8') as info:
        for line in info:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def _memory_gib() -> float:
    with open('/proc/meminfo', encoding='utf-8') as info:
        for line in info:
            if line.startswith('MemTotal:'):
                return int(line.split()[1]) / 1024**2
    return 0.0


def _os_name() -> str:
    try:
        text = Path('/etc/os-release').read_text(encoding='utf-8')
        name = re.search(r'^PRETTY_NAME="?([^"\n]*)', text, re.M)
    except OSError:
        name = None
    return f'{name.group(1) if name else platform.system()}, Linux {platform.release()}'


def _sqlite_version() -> str:
    import sqlite3
    return sqlite3.sqlite_version


def _postgres_version() -> str:
    url = os.environ.get('TRAINBOARD_TEST_POSTGRES_URL', '')
    if not url:
        return ''
    import asyncio

    import asyncpg

    from services.database import asyncpg_dsn

    async def ask() -> str:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return await connection.fetchval('SHOW server_version')
        finally:
            await connection.close()
    try:
        return asyncio.run(ask()).split()[0]
    except Exception:  # noqa: BLE001 (the version is a nicety; the figures are what matter)
        return ''


if __name__ == '__main__':
    main()
