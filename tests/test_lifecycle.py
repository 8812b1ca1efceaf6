"""The lifecycle: its table and its pure decisions, then the one guarded move on a real database."""

import ast
import asyncio
from pathlib import Path

import pytest

from models import AuditEntry, Run, RunStatus, RunStep, StepStatus
from providers.base import Phase
from services import auth, ingest, lifecycle, projects, run_control, runs
from services.lifecycle import Cause, Step

S = RunStatus


def test_every_status_has_a_row_and_finished_runs_go_nowhere() -> None:
    assert set(lifecycle.TRANSITIONS) == set(RunStatus)
    for status in lifecycle.FINISHED_STATUSES:
        assert lifecycle.TRANSITIONS[status] == frozenset()
    for status, targets in lifecycle.TRANSITIONS.items():
        assert status not in targets  # a move changes the status


def test_every_user_action_starts_from_where_it_can_go() -> None:
    goes_to = {'stop': {S.STOPPING, S.STOPPED}, 'pause': {S.PAUSING}, 'resume': {S.RESUMING, S.RUNNING},
               'cancel': {S.CANCELLED}}
    for action, sources in lifecycle.ACTIONS.items():
        for source in sources:
            if action != 'retry':
                assert goes_to[action] & lifecycle.TRANSITIONS[source], (action, source)


def test_a_stop_is_final_only_once_its_job_is_gone() -> None:
    assert lifecycle.TRANSITIONS[S.STOPPING] == {S.STOPPED, S.SUCCEEDED, S.CANCELLED}
    assert S.PAUSING in lifecycle.TRANSITIONS[S.RUNNING]  # a pause asked for is intent: paused once billing ends


def test_the_status_sets() -> None:
    assert lifecycle.ACTIVE.isdisjoint(lifecycle.FINISHED_STATUSES)
    assert lifecycle.INTENTS <= lifecycle.ACTIVE
    assert S.PAUSED not in lifecycle.BILLING and S.PAUSING in lifecycle.BILLING and S.RESUMING in lifecycle.BILLING
    assert {S.PROVISIONING, S.RUNNING, S.PAUSING, S.RESUMING} == lifecycle.LIMITED  # all that bills


@pytest.mark.parametrize(('current', 'phase', 'expected'), [
    (S.PROVISIONING, Phase.RUNNING, S.RUNNING),
    (S.RESUMING, Phase.RUNNING, S.RUNNING),
    (S.RESUMING, Phase.EXITED, None),  # not started again yet
    (S.PAUSING, Phase.RUNNING, None),  # still winding down (Novita's `stopping` bills and maps to running)
    (S.PAUSING, Phase.EXITED, S.PAUSED),
    (S.PAUSING, Phase.PAUSED, S.PAUSED),
    (S.PAUSED, Phase.EXITED, None),
    (S.RUNNING, Phase.PAUSED, S.PAUSED),
    (S.RUNNING, Phase.EXITED, S.FAILED),
    (S.RUNNING, Phase.SUCCEEDED, S.SUCCEEDED),
    (S.RUNNING, Phase.GONE, S.FAILED),
    (S.STOPPING, Phase.FAILED, S.STOPPED),
    (S.STOPPING, Phase.SUCCEEDED, S.STOPPED),
    (S.STOPPING, Phase.RUNNING, None),
    (S.RUNNING, Phase.UNKNOWN, None),
    (S.SUCCEEDED, Phase.GONE, None),
])
def test_provider_phases_map_onto_moves(current: RunStatus, phase: Phase, expected: RunStatus | None) -> None:
    decision = lifecycle.from_phase(current, phase)
    assert (decision.to if decision else None) == expected
    if decision:
        assert lifecycle.can_move(current, decision.to)


def test_a_job_of_ours_that_says_it_stopped_is_stopped_once_it_is_gone() -> None:
    assert lifecycle.from_report(S.STOPPING, S.STOPPED, signs_of_life=False, has_job=True) is None
    assert lifecycle.from_report(S.STOPPING, S.SUCCEEDED, signs_of_life=False, has_job=True) is None
    # a paused instance's SIGTERM, reported as a failure or an end: the provider decides, and it reads paused
    assert lifecycle.from_report(S.PAUSING, S.FAILED, signs_of_life=False, has_job=True) is None
    # a report before the leader launched the run does not start it
    assert lifecycle.from_report(S.QUEUED, None, signs_of_life=True, awaits_launch=True) is None


@pytest.mark.parametrize(('current', 'reported', 'signs', 'expected'), [
    (S.QUEUED, None, True, S.RUNNING),
    (S.PROVISIONING, None, False, None),
    (S.PROVISIONING, S.RUNNING, False, S.RUNNING),
    (S.RUNNING, S.SUCCEEDED, True, S.SUCCEEDED),
    (S.STOPPING, S.STOPPED, False, S.STOPPED),
    (S.STOPPING, S.FAILED, False, S.STOPPED),  # killed while stopping: it stopped
    (S.STOPPING, S.SUCCEEDED, False, S.STOPPED),  # the SDK's finish at exit, after a stop was asked
    (S.PAUSING, S.FAILED, False, S.FAILED),  # external code that fails while asked to pause
    (S.PAUSED, None, True, None),
])
def test_reports_map_onto_moves(current: RunStatus, reported: RunStatus | None, signs: bool,
                                expected: RunStatus | None) -> None:
    assert lifecycle.from_report(current, reported, signs_of_life=signs) == expected


def step(status: RunStatus, *, now: float = 100.0, deadline: float | None = 110.0, carried: float | None = None,
         job: bool = True, started: bool = True) -> Step:
    return lifecycle.next_step(status, now=now, deadline=deadline, carried_out_at=carried, has_job=job,
                               started=started, poll_interval_s=1.0)


def test_the_leader_waits_for_a_checkpoint_until_the_deadline_then_acts() -> None:
    assert step(S.STOPPING) == Step.WAIT
    assert step(S.STOPPING, now=110.0) == Step.STOP
    assert step(S.STOPPING, now=111.0, carried=110.0) == Step.WAIT
    assert step(S.STOPPING, now=113.0, carried=110.0) == Step.TERMINATE  # did not take: forced
    assert step(S.STOPPING, started=False) == Step.TERMINATE  # nothing to checkpoint
    assert step(S.PAUSING) == Step.WAIT
    assert step(S.PAUSING, now=110.0) == Step.PAUSE
    assert step(S.PAUSING, now=114.0, carried=110.0) == Step.PAUSE  # asked again
    assert step(S.RESUMING, deadline=None) == Step.RESUME
    assert step(S.RUNNING) == Step.WAIT


def test_external_code_moves_on_at_the_deadline() -> None:
    assert step(S.STOPPING, job=False) == Step.WAIT
    assert step(S.STOPPING, job=False, now=110.0) == Step.FINISH
    assert step(S.RESUMING, job=False) == Step.FINISH


# --- the guarded move, on a real database ---------------------------------------------------------------------------

async def _external_run(name: str = 'r') -> tuple[Run, object]:
    user = await auth.create_user('ada@example.com', 'a long password')
    project = await projects.create_project(user, name='vision')
    created, _ = await runs.create_run(user, project['id'], name=name)
    return await Run.get(id=created['id']), user


async def test_two_movers_one_wins_and_the_other_fails_cleanly(orm: str) -> None:
    run, _ = await _external_run()
    first, second = await Run.get(id=run.id), await Run.get(id=run.id)
    results = await asyncio.gather(lifecycle.move(first, S.RUNNING, cause=Cause.JOB),
                                   lifecycle.move(second, S.CANCELLED, cause=Cause.USER))
    assert sorted(results) == [False, True]
    stored = await Run.get(id=run.id)
    assert stored.status in {S.RUNNING, S.CANCELLED}
    assert await AuditEntry.filter(object_id=str(run.id), action__startswith='run.').count() == 2  # created + 1


async def test_an_illegal_move_is_a_bug_not_a_write(orm: str) -> None:
    run, _ = await _external_run()
    with pytest.raises(lifecycle.IllegalMove):
        await lifecycle.move(run, S.PAUSED, cause=Cause.USER)
    assert (await Run.get(id=run.id)).status == S.QUEUED


async def test_a_budget_stop_reads_as_a_budget_stop_after_the_job_s_own_finish(orm: str) -> None:
    run, _ = await _external_run()
    await ingest.report(run, {'steps': [{'name': 'training', 'status': 'running'}]})
    run = await Run.get(id=run.id)
    assert await run_control.stop_for(run, 'Stopped by the project budget at $10.00 ($9.99 used).', Cause.BUDGET)
    answer = await ingest.report(await Run.get(id=run.id), {'status': {'state': 'stopped', 'message': 'bye'}})
    assert 'control' not in answer or answer['control'] == {'action': 'stop'}
    stored = await Run.get(id=run.id)
    assert stored.status == S.STOPPED
    assert stored.status_message == 'Stopped by the project budget at $10.00 ($9.99 used).'
    assert stored.status_cause == Cause.BUDGET
    step_row = await RunStep.get(run_id=run.id, name='training')
    assert step_row.status == StepStatus.STOPPED  # ended by the stop, not failed


async def test_a_user_s_stop_records_who(orm: str) -> None:
    run, user = await _external_run()
    await ingest.report(run, {'logs': ['hello']})
    data = await run_control.act(user, run.id, 'stop')
    assert data['status'] == 'stopping'
    stored = await Run.get(id=run.id)
    assert (stored.status_cause, stored.status_by_id, stored.control) == ('user', user.id, 'stop')
    assert stored.deadline is not None


def test_only_lifecycle_writes_a_run_s_status() -> None:
    """The acceptance check of the issue, kept: no other module assigns, creates or updates a run's status."""
    root = Path(__file__).resolve().parent.parent
    offenders = [f'{path.relative_to(root)}:{line}'
                 for folder in ('services', 'api', 'pages', 'components', 'providers')
                 for path in sorted((root / folder).rglob('*.py')) if path.name != 'lifecycle.py'
                 for line in _status_writes(ast.parse(path.read_text()))]
    assert offenders == []


def _status_writes(tree: ast.AST) -> list[int]:
    """Lines that write `status` on a Run: `run.status = ...`, or `Run....create/update(status=...)`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and part.attr == 'status' \
                            and isinstance(part.value, ast.Name) and part.value.id == 'run':
                        found.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in {'create', 'update', 'bulk_create', 'update_or_create'} \
                and any(k.arg == 'status' for k in node.keywords) and _root_name(node.func.value) == 'Run':
            found.append(node.lineno)
    return found


def _root_name(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ''
