"""The pace, ETA and forecast of a run (services/progress): pure decisions, fast, no database.

The replay feeds ingest the reports that examples/train_mlp.py makes through the SDK, in the order and at the times
they arrive, and compares the ETA the run page shows with the time the run really had left.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from models import Run, RunStatus
from services import ingest, progress, runs
from services.ingest import Report
from services.progress import Pace, advance, eta_now, forecast, pace

T0 = 1_750_000_000.0


def test_a_report_that_does_not_advance_progress_leaves_the_window_and_its_clock() -> None:
    window = advance(None, T0 + 10, 0.10, started_at=T0)
    window = advance(window, T0 + 20, 0.20, started_at=T0)
    assert advance(window, T0 + 25, 0.20, started_at=T0) is None  # metrics-only batches never get here at all
    assert pace(window, started_at=T0) == Pace(pytest.approx(0.01), pytest.approx(80.0))


def test_the_rate_is_the_slope_over_the_window_not_an_average_of_bursts() -> None:
    window = None
    for at, fraction in [(10, 0.10), (20, 0.20), (20.01, 0.201), (30, 0.30)]:  # a step change 10 ms after a flush
        window = advance(window, T0 + at, fraction, started_at=T0)
    assert pace(window, started_at=T0).rate == pytest.approx(0.01)


def test_with_one_report_the_rate_is_taken_since_the_start() -> None:
    window = advance(None, T0 + 50, 0.25, started_at=T0)
    assert pace(window, started_at=T0) == Pace(pytest.approx(0.005), pytest.approx(150.0))
    assert pace(advance(None, T0, 0.25, started_at=T0), started_at=T0) == Pace(None, None)  # no time to tell by
    assert pace(None, started_at=T0) == Pace(None, None)


def test_progress_zero_opens_no_window() -> None:
    assert advance(None, T0 + 5, 0.0, started_at=T0) is None  # "step 0 of n" while data loads is not the pace


def test_progress_that_goes_back_starts_the_window_anew() -> None:
    window = advance(advance(None, T0 + 10, 0.5, started_at=T0), T0 + 20, 0.6, started_at=T0)
    assert advance(window, T0 + 30, 0.1, started_at=T0) == [[T0 + 30, 0.1]]


def test_the_window_spans_half_the_run_and_holds_few_points() -> None:
    window = None
    for second in range(1, 4001):  # a report a second for an hour and more
        window = advance(window, T0 + second, second / 5000, started_at=T0)
    assert len(window) <= progress.MAX_POINTS
    assert window[-1] == [T0 + 4000, 0.8]
    assert T0 + 4000 - progress.WINDOW_MAX_S - 60 <= window[0][0] <= T0 + 4000 - progress.WINDOW_MAX_S
    early = None
    for second in range(1, 11):
        early = advance(early, T0 + second, second / 5000, started_at=T0)
    assert early[0][0] == T0 + 1  # younger than ten seconds: all of it


def test_a_pause_does_not_slow_the_pace_after_it() -> None:
    window = advance(advance(None, T0 + 10, 0.1, started_at=T0), T0 + 20, 0.2, started_at=T0)
    window = progress.without_pause(window, 600.0)  # paused for ten minutes after the report at 20 s
    window = advance(window, T0 + 630, 0.3, started_at=T0)
    assert pace(window, started_at=T0).rate == pytest.approx(0.01)


def test_the_eta_counts_down_from_the_report_that_set_it() -> None:
    assert eta_now(100.0, T0, T0 + 30) == 70.0
    assert eta_now(100.0, T0, T0 + 300) == 0.0
    assert eta_now(None, T0, T0) is None
    assert eta_now(100.0, None, T0) == 100.0  # sample data: an ETA with no report behind it


def test_the_forecast_says_when_the_budget_stops_the_run_first() -> None:
    free = forecast(cost_usd=2.0, price_per_hour=3.6, eta_s=1000, budget_usd=0, used_usd=0, burn_per_hour=0,
                    max_cost_usd=None)
    assert (free.cost_usd, free.capped, free.note) == (pytest.approx(3.0), False, '')
    within = forecast(cost_usd=2.0, price_per_hour=3.6, eta_s=1000, budget_usd=10, used_usd=5, burn_per_hour=3.6,
                      max_cost_usd=None)
    assert not within.capped and within.cost_usd == pytest.approx(3.0)
    # the run: $26.37 forecast in a $10 project; others spend from the same budget at the same time
    over = forecast(cost_usd=4.0, price_per_hour=36.0, eta_s=2237, budget_usd=10, used_usd=6, burn_per_hour=72.0,
                    max_cost_usd=None)
    assert over.cost_usd == pytest.approx(26.37) and over.capped
    assert over.note == 'The project budget ($10.00) stops the run first, at about $6.00'
    limited = forecast(cost_usd=4.0, price_per_hour=36.0, eta_s=2237, budget_usd=100, used_usd=6, burn_per_hour=36,
                       max_cost_usd=5.0)
    assert limited.capped and limited.note == 'Its cost limit stops the run first, at about $5.00'


# --- the replay ------------------------------------------------------------------------------------------------------

@dataclass
class Job:
    """examples/train_mlp.py as the server sees it: a slow setup (no progress), then epochs of batches whose time
    varies, the first ones slower (warm-up), each epoch followed by an evaluation pause; the SDK flushes about once a
    second and at once on every step change, so reports come at irregular intervals, many of them without progress
    (steps, logs, validation metrics) or with the progress the previous one had."""
    seed: int
    epochs: int = 30
    batches: int = 15
    batch_s: float = 0.5  # the run: about 250 s
    setup_s: float = 5.0
    warm_up: tuple[int, float] = (10, 1.5)  # the first batches take this much longer
    evaluation_s: float = 0.5

    def reports(self) -> tuple[list[tuple[float, Report]], float]:
        """(arrival time, report) in order, and when the run ended."""
        rng = random.Random(self.seed)
        total, done, now = self.epochs * self.batches, 0, T0
        events: list[tuple[float, str, int]] = [(now, 'step', 0)]  # (when, what, step done)
        now += self.setup_s
        for _ in range(self.epochs):
            events.append((now, 'step', done))
            for _ in range(self.batches):
                now += self.batch_s * rng.uniform(0.8, 1.2) * (self.warm_up[1] if done < self.warm_up[0] else 1.0)
                done += 1
                events.append((now, 'progress', done))
            events.append((now, 'step', done))  # training ends, evaluation starts
            now += self.evaluation_s * rng.uniform(0.8, 1.2)
            events.append((now, 'metrics', done))
            events.append((now, 'step', done))
        arrivals, flush, sent, latest = [], T0 + 1.0, 0, 0
        for when, what, step in events:
            while flush < when:  # the sender's one-second flushes before this event: the latest progress
                arrivals.append((flush, self._report(latest, sent, total, rng)))
                sent = latest
                flush += 1.0 + rng.uniform(0.0, 0.05)
            latest = step
            if what in {'step', 'metrics'}:  # a step change wakes the sender at once
                arrivals.append((when + rng.uniform(0.001, 0.02), self._report(step, sent, total, rng, what)))
                sent = step
        return arrivals, now

    @staticmethod
    def _report(step: int, sent: int, total: int, rng: random.Random, what: str = '') -> Report:
        report = Report(logs=['epoch done'] if what == 'step' else [])
        if step != sent or rng.random() < 0.1:  # now and then the same progress again (another process, a retry)
            report.step, report.total_steps, report.fraction = step, total, step / total
        return report


def replay(job: Job, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float | None, float]]:
    """(seconds into the run, ETA shown, seconds really left) every half second from 10% to 90% of the run."""
    arrivals, end = job.reports()
    run = Run(status=RunStatus.RUNNING, started_at=datetime.fromtimestamp(T0, UTC))
    clock = SimpleNamespace(time=lambda: T0)
    monkeypatch.setattr(runs, 'time', clock)  # the page asks runs.eta_seconds at `clock`'s time
    seen, index = [], 0
    for tick in range(int((end - T0) * 2)):
        now = T0 + tick / 2
        while index < len(arrivals) and arrivals[index][0] <= now:
            ingest._apply_progress(run, arrivals[index][1], arrivals[index][0])
            index += 1
        if 0.1 <= (now - T0) / (end - T0) <= 0.9:
            clock.time = lambda now=now: now
            seen.append((now - T0, runs.eta_seconds(run), end - now))
    return seen


@pytest.mark.parametrize('seed', range(8))
@pytest.mark.parametrize('job', [
    {},  # as the issue ran it
    {'evaluation_s': 1.5},  # evaluation a sixth of each epoch
    {'epochs': 20, 'batches': 150, 'batch_s': 0.2, 'setup_s': 20.0, 'warm_up': (30, 1.5), 'evaluation_s': 5.0},
])
def test_the_eta_of_train_mlp_is_within_20_percent_after_a_tenth_of_the_run(job: dict, seed: int,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for elapsed, eta, left in replay(Job(seed=seed, **job), monkeypatch):
        assert eta is not None and abs(eta - left) <= 0.2 * left, f'{elapsed:.1f} s in: ETA {eta} s, truly {left:.1f} s'
