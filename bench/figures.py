"""What every benchmark reports: figures, each with its goal and, where there is one, a peer's figure measured in the
same run. A script prints them as it goes; under `make bench` they are also appended as JSON lines to the file named
by TRAINBOARD_BENCH_FIGURES, from which bench/RESULTS.md is written.

    from bench.figures import Figure, report
    report(Figure('single-point ingest, 8 clients', 'SQLite', 1840, 'points/s', goal=1000))
    report(Figure('batched ingest', 'SQLite', 98_000, 'points/s', peer=2_300, peer_name='MLflow 3.x server'))
    report(Figure('first paint, project page', 'SQLite', 640, 'ms', goal=1000, lower_is_better=True))
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

FIGURES_FILE = 'TRAINBOARD_BENCH_FIGURES'


@dataclass(frozen=True)
class Figure:
    what: str  # what was measured, in words a reader understands: 'single-point ingest, 8 clients'
    where: str  # the set-up it was measured on: 'SQLite', 'PostgreSQL', 'moto S3', ...
    value: float
    unit: str  # 'points/s', 'ms', 's', 'MiB', '%', 'x'
    goal: float | None = None
    lower_is_better: bool = False
    peer: float | None = None  # the same thing measured on the peer, same machine, same run
    peer_name: str = ''
    source: str = ''  # the script that measured it (filled in by report)

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value <= self.goal if self.lower_is_better else self.value >= self.goal

    @property
    def ratio(self) -> float | None:
        """How many times better than the peer (above 1 is better, whichever way the unit goes)."""
        if not self.peer or not self.value:
            return None
        return self.peer / self.value if self.lower_is_better else self.value / self.peer


def report(*figures: Figure) -> None:
    """Print each figure; under `make bench`, keep it for bench/RESULTS.md too."""
    import __main__
    source = os.path.basename(getattr(__main__, '__file__', '') or '')
    for figure in figures:
        figure = Figure(**{**asdict(figure), 'source': figure.source or source})
        print(f'  {_line(figure)}', flush=True)
        if path := os.environ.get(FIGURES_FILE):
            with open(path, 'a', encoding='utf-8') as out:
                out.write(json.dumps(asdict(figure)) + '\n')


def _line(figure: Figure) -> str:
    text = f'{figure.what} ({figure.where}): {number(figure.value)} {figure.unit}'
    if figure.goal is not None:
        text += f'  goal {"≤" if figure.lower_is_better else "≥"} {number(figure.goal)}: ' \
                f'{"met" if figure.met else "NOT MET"}'
    if figure.peer is not None:
        ratio = f' ({figure.ratio:.1f}x)' if figure.ratio is not None else ''
        text += f'  {figure.peer_name or "peer"}: {number(figure.peer)} {figure.unit}{ratio}'
    return text


def number(value: float) -> str:
    if abs(value) >= 100:
        return f'{value:,.0f}'
    return f'{value:,.2f}'.rstrip('0').rstrip('.') if abs(value) >= 1 else f'{value:.3g}'
