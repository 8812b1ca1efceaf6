"""The local provider runs real commands; through the API and the poller they become runs that end right."""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from providers.base import JobSpec, JobState, Phase
from providers.local import LocalProvider
from tests import helpers
from tests.helpers import Server

TRAIN = '''
import time, trainboard
run = trainboard.init()
run.on_control(lambda action: run.print(f"checkpoint before {{action}}"))
for step in range({steps}):
    run.log({{"loss": 1 / (step + 1)}}, step=step)
    run.progress(step + 1, {steps})
    if run.should_stop():
        run.print("checkpointing and stopping")
        run.finish("stopped", "stopped on request")
        raise SystemExit(0)
    time.sleep({delay})
'''


async def state_after(provider: LocalProvider, ref: str, *phases: Phase, within_s: float = 5.0) -> JobState:
    """The job's state once it is in one of `phases` (or the last one seen after `within_s`)."""
    deadline = time.monotonic() + within_s
    while (state := (await provider.states([ref]))[ref]).phase not in phases and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return state


async def test_a_job_runs_pauses_resumes_and_ends(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    ref = await provider.launch(JobSpec(run_id=1, name='t', command='echo hello; sleep 30'))
    assert (await provider.states([ref]))[ref].phase == Phase.RUNNING
    await provider.pause(ref)
    await asyncio.sleep(0.1)
    assert (await provider.states([ref]))[ref].phase == Phase.PAUSED
    await provider.resume(ref)
    await asyncio.sleep(0.1)
    assert (await provider.states([ref]))[ref].phase == Phase.RUNNING
    await provider.stop(ref)
    state = await state_after(provider, ref, Phase.FAILED)
    assert state.phase == Phase.FAILED and state.message == 'The command was killed by SIGTERM (exit code 143).'
    assert (await provider.logs(ref)).lines[0] == 'hello'  # then the shell's own word for it, 'Terminated'


async def test_stop_returns_at_once_and_terminate_ends_a_job_that_ignores_it(tmp_path: Path) -> None:
    """The leader's poll cycle must not wait inside stop(); a job still there some polls later is terminated."""
    provider = LocalProvider(tmp_path)
    ref = await provider.launch(JobSpec(run_id=1, name='t', command="trap '' TERM; echo ready; sleep 30"))
    while not (await provider.logs(ref)).lines:  # the trap is set
        await asyncio.sleep(0.05)
    await provider.pause(ref)  # a frozen job is woken to hear the stop
    started = time.monotonic()
    await provider.stop(ref)
    assert time.monotonic() - started < 0.5
    await asyncio.sleep(0.5)
    assert (await provider.states([ref]))[ref].phase == Phase.RUNNING  # its sleep ignored it, unfrozen
    await provider.terminate(ref)
    state = await state_after(provider, ref, Phase.FAILED, Phase.SUCCEEDED)
    assert state.phase == Phase.FAILED and 'killed' in state.message
    assert not group_members(ref)


async def test_a_job_that_checkpoints_on_sigterm_keeps_its_exit_code(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    # short sleeps: one forked just after the stop's signal would otherwise outlive it and keep the job alive
    command = "trap 'echo checkpoint; sleep 0.5; exit 3' TERM; echo ready; while :; do sleep 0.1; done"
    ref = await provider.launch(JobSpec(run_id=1, name='t', command=command))
    while not (await provider.logs(ref)).lines:
        await asyncio.sleep(0.05)
    await provider.stop(ref)
    assert (await provider.states([ref]))[ref].phase == Phase.RUNNING  # checkpointing
    state = await state_after(provider, ref, Phase.FAILED, Phase.SUCCEEDED)
    assert state.message == 'The command exited with code 3.', state
    lines = (await provider.logs(ref)).lines
    assert lines[0] == 'ready' and lines[-1] == 'checkpoint'  # (the shell may say its sleep was "Terminated")


def group_members(ref: str) -> list[str]:
    """The live processes left in the job's process group."""
    group = ref.split(':', 1)[0]
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(')', 1)[1].split()
            if fields[2] == group and fields[0] not in {'Z', 'X'}:
                found.append(stat.parent.name)
    return found


async def test_exit_codes_decide_success(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    good = await provider.launch(JobSpec(run_id=1, name='good', command='true'))
    bad = await provider.launch(JobSpec(run_id=2, name='bad', command='exit 3'))
    await asyncio.sleep(0.5)
    states = await provider.states([good, bad])
    assert states[good].phase == Phase.SUCCEEDED
    assert states[bad].phase == Phase.FAILED and states[bad].message == 'The command exited with code 3.'


async def test_a_restarted_app_finds_its_jobs_again(tmp_path: Path) -> None:
    ref = await LocalProvider(tmp_path).launch(JobSpec(run_id=1, name='t', command='sleep 0.5'))
    after_restart = LocalProvider(tmp_path)  # knows nothing but the reference it stored
    assert (await after_restart.states([ref]))[ref].phase == Phase.RUNNING
    await asyncio.sleep(1.0)
    assert (await after_restart.states([ref]))[ref].phase == Phase.SUCCEEDED
    pid, started, workdir = ref.split(':', 2)
    reused = f'{pid}:{int(started) + 1}:{workdir}'  # the same pid, another process
    assert (await after_restart.states([reused]))[reused].phase != Phase.RUNNING


async def test_output_is_read_on_in_whole_lines(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    ref = await provider.launch(JobSpec(run_id=1, name='t', command="printf 'one\\ntw'; sleep 0.5; printf 'o\\nend'"))
    await asyncio.sleep(0.2)
    first = await provider.logs(ref)
    assert first.lines == ['one']  # 'tw' is still being written
    await asyncio.sleep(0.8)
    rest = await provider.logs(ref, first.cursor)
    assert rest.lines == ['two', 'end']  # the job has ended: its last line, without a newline, counts
    assert (await provider.logs(ref, rest.cursor)).lines == []


@pytest.fixture
def polling_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_SCHEDULER_ENABLED='true',
                          TRAINBOARD_POLL_INTERVAL_S='0.3', TRAINBOARD_STOP_GRACE_S='4',
                          TRAINBOARD_JOB_LOGS_INTERVAL_S='0.2')
    server = Server(env).start()
    yield server
    server.stop()


def launch(server: Server, script: str) -> tuple[httpx.Client, dict]:
    """A local run of a Python script, handed to the job's `python` in the command itself: the job runs as another
    user, who may not read a file in this test's directory."""
    api = server.client()
    project = api.post('/projects', json={'name': f'local-{time.time_ns()}'}).json()
    answer = api.post(f'/projects/{project["id"]}/runs',
                      json={'name': 'local', 'provider': 'local', 'command': f"python - <<'EOF'\n{script}\nEOF"})
    assert answer.status_code == 201, answer.text
    return api, answer.json()


wait_for = helpers.wait_for_status


def test_a_local_run_reports_and_succeeds(polling_server: Server) -> None:
    api, run = launch(polling_server, TRAIN.format(steps=20, delay=0.05))
    assert run['status'] == 'queued'  # the leader launches it at its next poll
    done = wait_for(api, run, 'succeeded', 'failed')
    assert done['status'] == 'succeeded', done
    assert api.get(f'/runs/{run["id"]}/metrics').json()[0]['count'] == 20


def test_a_failing_command_fails_the_run_with_the_reason(polling_server: Server) -> None:
    api, run = launch(polling_server, 'raise SystemExit(4)')
    done = wait_for(api, run, 'succeeded', 'failed')
    assert done['status'] == 'failed' and done['status_message'] == 'The command exited with code 4.'


def test_stop_asks_the_job_to_checkpoint_first(polling_server: Server) -> None:
    api, run = launch(polling_server, TRAIN.format(steps=1000, delay=0.05))
    wait_for(api, run, 'running')
    answer = api.post(f'/runs/{run["id"]}/actions/stop')
    assert answer.status_code == 202 and answer.json()['status'] == 'stopping'
    done = wait_for(api, run, 'stopped')
    assert 'checkpointing and stopping' in [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()]
    assert done['ended_at']


def test_pause_resume_cancel_and_refusals(polling_server: Server) -> None:
    api, run = launch(polling_server, TRAIN.format(steps=1000, delay=0.05))
    wait_for(api, run, 'running')
    conflict = api.post(f'/runs/{run["id"]}/actions/resume')
    assert conflict.status_code == 409 and 'it is running' in conflict.json()['detail']
    assert api.post(f'/runs/{run["id"]}/actions/pause').json()['status'] == 'pausing'
    lines = lambda: [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()]  # noqa: E731
    helpers.wait_until(lambda: 'checkpoint before pause' in lines())  # heard in a report's answer, in the grace
    wait_for(api, run, 'paused')  # after the grace period (4 s), once the leader froze it
    time.sleep(0.5)  # a report already on its way when the job froze may still land
    steps = api.get(f'/runs/{run["id"]}').json()['step']
    time.sleep(1.0)
    assert api.get(f'/runs/{run["id"]}').json()['step'] == steps  # frozen: no progress while paused
    assert api.post(f'/runs/{run["id"]}/actions/resume').json()['status'] == 'resuming'
    wait_for(api, run, 'running')
    cancelled = api.post(f'/runs/{run["id"]}/actions/cancel')
    assert cancelled.status_code == 202 and cancelled.json()['status'] == 'cancelled'
    assert api.post(f'/runs/{run["id"]}/actions/cancel').status_code == 409
    retried = api.post(f'/runs/{run["id"]}/actions/retry').json()
    assert 'id' in retried, (retried, api.get(f'/runs/{run["id"]}').json())
    assert retried['id'] != run['id'] and retried['name'] == 'local (retry)'
    assert api.post(f'/runs/{retried["id"]}/actions/cancel').status_code == 202
    assert api.post(f'/runs/{run["id"]}/actions/dance').status_code == 422


def test_the_app_restarts_mid_run_and_follows_the_job_to_its_end(polling_server: Server) -> None:
    api, run = launch(polling_server, TRAIN.format(steps=40, delay=0.1))
    wait_for(api, run, 'running')
    polling_server.stop()
    time.sleep(1.0)
    polling_server.start()
    done = wait_for(api, run, 'succeeded', 'failed', timeout=40)
    assert done['status'] == 'succeeded'
    assert api.get(f'/runs/{run["id"]}/metrics').json()[0]['count'] == 40


def test_the_form_s_example_command_trains_and_reports(polling_server: Server) -> None:
    from components.new_run_dialog import EXAMPLE
    api = polling_server.client()
    project = api.post('/projects', json={'name': 'example'}).json()
    answer = api.post(f'/projects/{project["id"]}/runs', json={'name': 'mlp', 'provider': 'local',
                                                               'command': EXAMPLE + ' --epochs 3 --delay 0'})
    run = answer.json()
    done = wait_for(api, run, 'succeeded', 'failed', timeout=60)
    assert done['status'] == 'succeeded', api.get(f'/runs/{run["id"]}/logs').json()
    assert {m['name'] for m in api.get(f'/runs/{run["id"]}/metrics').json()} >= {'train/loss', 'val/accuracy'}


def test_a_job_s_own_output_lands_in_its_log_once_also_across_a_restart(polling_server: Server) -> None:
    api, run = launch(polling_server, 'import time\nprint("one")\nprint("two")\ntime.sleep(3)\nprint("three")')
    lines = lambda: [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()]  # noqa: E731
    helpers.wait_until(lambda: lines() == ['one', 'two'])
    polling_server.stop()
    polling_server.start()
    assert wait_for(api, run, 'succeeded', 'failed')['status'] == 'succeeded'
    helpers.wait_until(lambda: 'three' in lines())
    time.sleep(0.6)  # more rounds of reading
    assert lines() == ['one', 'two', 'three']  # nothing lost, nothing twice
