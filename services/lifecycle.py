"""A run's lifecycle: its statuses, the moves between them, and the one function that writes a run's status.

Ingest, the poller, run control and limits decide what a run should become; `move` writes it, as a compare-and-set
from the status the run was read in, so that of two deciders the second fails cleanly (and sees the first's move on
its next read). A move keeps the reason and who or what made it, writes the audit entry with the change, and
publishes once committed.

Users and limits write intent: `stopping`, `pausing` (each with a deadline until which the job may checkpoint) and
`resuming`. The leader's poll cycle carries it out (services/background/intents.py): it stops, freezes or wakes the
job, and the poller moves the run on when the provider shows it done. `paused` means billing has ended; `stopped`
means the job is gone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

import settings
from models import Run, RunStatus, RunStep, StepStatus, User
from models.runs import FINISHED
from providers.base import Phase

log = logging.getLogger(__name__)

S = RunStatus


class Cause(StrEnum):
    """Who or what moved a run."""
    USER = 'user'
    BUDGET = 'budget'
    COST_LIMIT = 'cost_limit'
    DURATION = 'duration'
    STALL = 'stall'
    PROVIDER = 'provider'
    JOB = 'job'  # the training code, through a report
    SYSTEM = 'system'  # launching, retries, sample data


SYSTEM_STOPS = frozenset({Cause.BUDGET, Cause.COST_LIMIT, Cause.DURATION, Cause.STALL})
_BYSTANDERS = frozenset({Cause.JOB, Cause.PROVIDER, Cause.SYSTEM})  # they end a stop somebody asked for

# --- the status sets, defined here only --------------------------------------------------------------------------
INTENTS = frozenset({S.STOPPING, S.PAUSING, S.RESUMING})  # asked for, not carried out yet
ACTIVE = frozenset({S.PROVISIONING, S.RUNNING, S.PAUSING, S.PAUSED, S.RESUMING, S.STOPPING})  # a job exists: polled
LIVE = ACTIVE  # a job whose output is still copied
# what bills, or is about to: a queued run carries the price it was created at, before its job exists
BILLING = frozenset({S.QUEUED, S.PROVISIONING, S.RUNNING, S.PAUSING, S.RESUMING, S.STOPPING})
# checked against limits and budgets: what bills (a pause or resume not carried out yet bills on); paused jobs do not
LIMITED = frozenset({S.PROVISIONING, S.RUNNING, S.PAUSING, S.RESUMING})
REPORTABLE = frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.STOPPED, S.CANCELLED})  # what a job may say it is
UNSTARTED = frozenset({S.QUEUED, S.PROVISIONING})  # no sign of life yet: a report is one
FINISHED_STATUSES = FINISHED
ENDS_TOLD = frozenset({S.SUCCEEDED, S.FAILED, S.STOPPED})  # ends people hear of (a cancel is the canceller's doing)

_ENDS = {S.SUCCEEDED, S.FAILED, S.STOPPED, S.CANCELLED}
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.QUEUED: frozenset({S.PROVISIONING, S.RUNNING, *_ENDS}),
    S.PROVISIONING: frozenset({S.RUNNING, S.STOPPING, *_ENDS}),
    S.RUNNING: frozenset({S.PAUSING, S.PAUSED, S.STOPPING, *_ENDS}),
    S.PAUSING: frozenset({S.PAUSED, S.RUNNING, S.RESUMING, S.STOPPING, *_ENDS}),
    S.PAUSED: frozenset({S.RESUMING, S.RUNNING, S.STOPPING, *_ENDS}),
    S.RESUMING: frozenset({S.RUNNING, S.PAUSED, S.STOPPING, *_ENDS}),
    S.STOPPING: frozenset({S.STOPPED, S.SUCCEEDED, S.CANCELLED}),
    **{status: frozenset() for status in FINISHED},
}

# what users may ask, and from which statuses
ACTIONS: dict[str, frozenset[RunStatus]] = {
    'stop': frozenset({S.QUEUED, S.PROVISIONING, S.RUNNING, S.PAUSING, S.PAUSED, S.RESUMING}),
    'pause': frozenset({S.RUNNING}),
    'resume': frozenset({S.PAUSING, S.PAUSED}),  # from pausing: the pause asked for is called off
    'cancel': frozenset({S.QUEUED, S.PROVISIONING, S.RUNNING, S.PAUSING, S.PAUSED, S.RESUMING, S.STOPPING}),
    'retry': FINISHED,
}
OUTCOMES = {S.STOPPING: S.STOPPED, S.PAUSING: S.PAUSED, S.RESUMING: S.RUNNING}  # an intent carried out
CONTROL = {S.STOPPING: 'stop', S.PAUSING: 'pause', S.PAUSED: 'pause'}  # what a job hears in answer to a report
CHECK_POLLS = 3  # poll intervals a provider gets to carry a request out before it is asked again (or forced)


class IllegalMove(Exception):
    """A move the transition table does not allow: a bug in the caller, never a user's doing."""


def can_move(current: RunStatus | str, to: RunStatus) -> bool:
    return to in TRANSITIONS[RunStatus(current)]


def hears_pause(run: Run) -> bool:
    """Whether a pause reaches the run's code: a launched job is frozen by its provider, and the SDK's code reads it in
    its reports' answers; code outside Trainboard that reports through MLflow's client never reads them."""
    return not (run.provider == 'external' and run.mlflow_tags is not None)


def is_finished(status: RunStatus | str) -> bool:
    return RunStatus(status) in FINISHED


async def move(run: Run, to: RunStatus, *, cause: Cause, reason: str | None = None, by: User | None = None,
               using_db: BaseDBAsyncClient | None = None, notify: bool = True, **fields: Any) -> bool:
    """Move `run` from the status it was read in to `to`, with the reason and who or what moved it; False, changing
    nothing, when someone moved it first. `fields` are written with the move (cost, provider state, progress).

    Inside a transaction (`using_db`) the caller publishes after its commit (`publish`); else this does. A run that
    ends is an event people hear of (services/notifications), stored with the move; `notify=False` for sample data.
    A system stop's reason survives the job's own finish: moving from `stopping` to `stopped` on the job's word
    keeps who stopped it and why."""
    current = RunStatus(run.status)
    if not can_move(current, to):
        raise IllegalMove(f'run {run.id}: {current.value} -> {to.value}')
    values = _values_for(run, current, to, cause=cause, reason=reason, by=by)
    values.update(fields)
    if not await Run.filter(id=run.id, status=current).using_db(using_db).update(**values):
        return False
    for name, value in values.items():
        setattr(run, name, value)
    if to in FINISHED:
        await _close_steps(run, to, using_db)
    from services import audit, notifications  # noqa: PLC0415  (kept lazy: they import models and hub only)
    await audit.record(by, f'run.{to.value}', 'run', run.id, using_db=using_db, project_id=run.project_id,
                       previous=current.value, cause=values['status_cause'],
                       reason=values.get('status_message', run.status_message))
    if notify and to in ENDS_TOLD:
        await notifications.run_ended(run, using_db=using_db)  # announced by `publish`
    if using_db is None:
        await publish(run)
    return True


async def publish(run: Run) -> None:
    """Tell every tab the run (and its project's summary) changed, and of a notification its end made; after the
    commit that changed it."""
    from services import hub, notifications, projects, runs  # noqa: PLC0415  (they import this module for its sets)
    await hub.publish(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id,
                                 data=runs.row(run)))  # a hint: tabs re-read what they show
    await projects.publish_updated(run.project_id)
    if run.status in ENDS_TOLD:
        await notifications.announce(run.project_id)


def _values_for(run: Run, current: RunStatus, to: RunStatus, *, cause: Cause, reason: str | None,
                by: User | None) -> dict[str, Any]:
    values: dict[str, Any] = {'status': to, 'status_cause': cause.value, 'status_by_id': by.id if by else None,
                              'control': CONTROL.get(to, ''), 'control_error': None, 'carried_out_at': None,
                              'deadline': None}
    if reason is not None:
        values['status_message'] = reason
    if to in {S.STOPPING, S.PAUSING}:
        # a job that never ran, or is frozen, has nothing to checkpoint: carried out at once
        waits = current in {S.RUNNING, S.PAUSING} or to == S.PAUSING
        values['deadline'] = time.time() + (settings.current.stop_grace_s if waits else 0.0)
    if to == S.RUNNING and run.started_at is None:
        values['started_at'] = datetime.now(UTC)
    if to in FINISHED:
        values['ended_at'] = datetime.now(UTC)
        if to == S.SUCCEEDED:
            values['progress'] = 1.0
    if OUTCOMES.get(current) == to and run.status_cause and cause in _BYSTANDERS:
        # the request was somebody's: who asked and why stand, whatever the job or cloud says as it is carried out
        values.update(status_cause=run.status_cause, status_by_id=run.status_by_id,
                      status_message=run.status_message)
    return values


async def _close_steps(run: Run, to: RunStatus, using_db: BaseDBAsyncClient | None) -> None:
    """Steps still running when the run ends end with it: as it did, a stop as a stop, not a failure."""
    step_status = {S.SUCCEEDED: StepStatus.SUCCEEDED, S.FAILED: StepStatus.FAILED}.get(to, StepStatus.STOPPED)
    await RunStep.filter(run_id=run.id, status=StepStatus.RUNNING).using_db(using_db) \
        .update(status=step_status, ended_at=run.ended_at)


# --- decisions: pure, each in one place --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Decision:
    to: RunStatus
    cause: Cause
    reason: str | None = None  # None keeps the run's message


def from_phase(current: RunStatus, phase: Phase, *, raw: str = '', message: str = '') -> Decision | None:
    """What the provider's view of a job makes of a run that is `current` (None: nothing changes)."""
    if current in FINISHED or phase in {Phase.PROVISIONING, Phase.UNKNOWN}:
        return None
    if phase == Phase.RUNNING:
        return Decision(S.RUNNING, Cause.PROVIDER) if current in {S.PROVISIONING, S.RESUMING} else None
    if phase in {Phase.PAUSED, Phase.EXITED} and current in {S.PAUSING, S.PAUSED, S.RESUMING}:
        # frozen or stopped by us (a resume not carried out yet leaves it so)
        return Decision(S.PAUSED, Cause.PROVIDER) if current == S.PAUSING else None
    if phase == Phase.PAUSED:
        return Decision(S.PAUSED, Cause.PROVIDER, 'Paused outside Trainboard.') if current == S.RUNNING else None
    # the job has ended (or its machine stopped by itself)
    if current == S.STOPPING:
        return Decision(S.STOPPED, Cause.PROVIDER)
    if phase == Phase.SUCCEEDED:
        return Decision(S.SUCCEEDED, Cause.PROVIDER, '')
    if phase == Phase.EXITED:
        return Decision(S.FAILED, Cause.PROVIDER, message or 'The instance stopped before the run reported success.')
    return Decision(S.FAILED, Cause.PROVIDER, message or f'The job ended: {raw or phase.value}.')


def from_report(current: RunStatus, reported: RunStatus | None, *, signs_of_life: bool,
                has_job: bool = False, awaits_launch: bool = False) -> RunStatus | None:
    """What a job's report makes of a run that is `current` (None: nothing changes).

    A job asked to stop that ends, however it ends, has stopped (an SDK that finishes at exit says succeeded); a job
    of ours, once the provider shows it gone. While a job of ours is being paused its provider decides: stopping an
    instance sends SIGTERM, which code may report as a failure or an end. A run waiting for the leader to launch it
    has no job yet: a report does not start it."""
    if awaits_launch and current == S.QUEUED:
        return None
    if reported is not None and reported != S.RUNNING:
        if current == S.STOPPING:
            return None if has_job else S.STOPPED
        if current == S.PAUSING and has_job:
            return None
        return reported if can_move(current, reported) else None
    if current in UNSTARTED and (signs_of_life or reported == S.RUNNING):
        return S.RUNNING
    return None


class Step(StrEnum):
    """What the leader does next for a run's intent."""
    WAIT = 'wait'
    STOP = 'stop'  # ask the job to end (it may still checkpoint on SIGTERM)
    TERMINATE = 'terminate'  # end it and free everything that bills
    PAUSE = 'pause'
    RESUME = 'resume'
    FINISH = 'finish'  # no job of ours: the run moves on by itself (external code heard the request)


def next_step(status: RunStatus, *, now: float, deadline: float | None, carried_out_at: float | None,
              has_job: bool, started: bool, poll_interval_s: float) -> Step:
    """The leader's next step for a run in an intent status. A request the provider has not carried out after a few
    polls is asked again; a stop becomes a terminate."""
    if status not in INTENTS:
        return Step.WAIT
    due = deadline is None or now >= deadline
    if not has_job:  # external code: it heard the request in the answer to its reports, and had until the deadline
        return Step.FINISH if due or status == S.RESUMING else Step.WAIT
    overdue = carried_out_at is not None and now - carried_out_at >= CHECK_POLLS * poll_interval_s
    if status == S.STOPPING:
        if carried_out_at is None:
            if not started:  # a job that never ran has nothing to checkpoint; a cloud may refuse to stop it
                return Step.TERMINATE
            return Step.STOP if due else Step.WAIT
        return Step.TERMINATE if overdue else Step.WAIT
    if carried_out_at is None:
        if status == S.PAUSING and not due:
            return Step.WAIT
        return Step.PAUSE if status == S.PAUSING else Step.RESUME
    if overdue:
        return Step.PAUSE if status == S.PAUSING else Step.RESUME
    return Step.WAIT
