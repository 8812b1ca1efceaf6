"""`make bench`'s runner (bench/run_all.py) on scripts of its own: every one runs, a failing one is listed as failed
with the tail of its output and does not stop the rest, and a missed goal is summed up on top of RESULTS.md."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import run_all

ROOT = Path(__file__).resolve().parent.parent
REPORTS = '''
from bench.figures import Figure, report
if __name__ == '__main__':
    report(Figure('first paint', 'SQLite', 1500, 'ms', goal=1000, lower_is_better=True),
           Figure('batched ingest', 'SQLite', 30000, 'points/s', goal=25000, peer=2500, peer_name='MLflow server'))
'''
FAILS = '''
import sys
if __name__ == '__main__':
    print('\\n'.join(f'line {n}' for n in range(100)))
    sys.exit('the server did not start')
'''
MODULE = 'HELPERS = 1  # no __main__ block: not a benchmark\n'


@pytest.fixture
def bench_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    scripts = tmp_path / 'bench'
    scripts.mkdir()
    (scripts / 'a_fails.py').write_text(FAILS)
    (scripts / 'b_reports.py').write_text(REPORTS)
    (scripts / 'c_module.py').write_text(MODULE)
    monkeypatch.setattr(run_all, 'BENCH', scripts)
    monkeypatch.setattr(run_all, 'RUN_DIR', tmp_path / 'last-run')
    monkeypatch.setenv('PYTHONPATH', str(ROOT))
    return scripts


def test_every_script_runs_and_results_say_what_failed_and_what_missed(bench_dir: Path, tmp_path: Path) -> None:
    run_all.run_everything(argparse.Namespace(only=[], peers=False, timeout_min=2))
    out = tmp_path / 'RESULTS.md'
    run_all.write_results(out)
    text = out.read_text()

    assert [path.name for path in run_all.benchmarks()] == ['a_fails.py', 'b_reports.py']
    summary = text.split('## Not met, and failed')[1].split('\n## ')[0]
    assert '**first paint** (SQLite, b_reports.py): 1,500 ms, goal ≤ 1,000 ms' in summary
    assert 'batched ingest' not in summary  # its goal was met
    assert '**a_fails.py**: **failed** (exit 1)' in summary
    assert '1 of 2 goals met; 1 of 2 scripts ran to the end' in text
    failed = text.split('## a_fails.py')[1].split('\n## ')[0]
    assert 'line 99' in failed and 'the server did not start' in failed and 'line 50' not in failed
    reported = text.split('## b_reports.py')[1]
    assert '| batched ingest | SQLite | 30,000 points/s | ≥ 25,000 points/s | yes | 2,500 points/s (MLflow server) ' \
           '| 12.00x |' in reported
    assert '| first paint | SQLite | 1,500 ms | ≤ 1,000 ms | **NO** |' in reported


def test_a_script_that_hangs_is_stopped_and_listed_as_timed_out(bench_dir: Path, tmp_path: Path) -> None:
    (bench_dir / 'a_fails.py').unlink()
    (bench_dir / 'b_hangs.py').write_text("import time\nif __name__ == '__main__':\n    print('waiting', flush=True)\n"
                                          "    time.sleep(600)\n")
    run_all.run_everything(argparse.Namespace(only=['b_hangs', 'b_reports.py'], peers=False, timeout_min=0.05))
    out = tmp_path / 'RESULTS.md'
    run_all.write_results(out)
    text = out.read_text()
    assert '**b_hangs.py**: **timed out**' in text
    assert 'waiting' in text.split('## b_hangs.py')[1]
    assert '| first paint |' in text  # the script after it still ran
