"""What the poller hears from the cloud, told once to the people it concerns: a spot instance about to be reclaimed,
an orphan instance terminated, a credential that starts failing. On the Novita fake, the leader's cycle run here."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import settings
from models import Event, MemberRole, Notification, Role, Run, RunStatus, User
from providers.base import JobSpec
from providers.novita import NovitaProvider
from services import auth, credentials, projects, provider_health, run_control
from services.background import intents, poller
from services.provider_health import Account
from tests.fakes.novita import API_KEY, FakeNovita

SPOT_RUN = {'command': 'python train.py', 'image': 'pytorch/pytorch:2.4', 'product_id': '4090.16c96g.v2',
            'gpu_count': 1, 'billing': 'spot'}
OTHER_KEY = 'nv-another-team-key-4321'


@dataclass
class Team:
    admin: User
    owner: User
    editor: User
    project: int


@pytest.fixture
def cloud_settings(novita: FakeNovita, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNovita]:
    monkeypatch.setenv('TRAINBOARD_NOVITA_BASE_URL', novita.url)
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))
    monkeypatch.setenv('TRAINBOARD_ORPHAN_GRACE_S', '0')
    settings.reload()
    yield novita


@pytest.fixture
async def team(orm: str, cloud_settings: FakeNovita) -> Team:
    admin = await auth.create_user('admin@example.com', 'a long password', role=Role.ADMIN)
    owner = await auth.create_user('owner@example.com', 'a long password')
    editor = await auth.create_user('editor@example.com', 'a long password')
    project = await projects.create_project(owner, name='vision', budget_usd=100)
    await projects.add_member(owner, project['id'], editor.email, MemberRole.EDITOR.value)
    return Team(admin, owner, editor, project['id'])


async def _told(kind: str) -> dict[int, set[int]]:
    """Each stored event of `kind`, by id, with who has it in their bell."""
    return {event.id: set(await Notification.filter(event_id=event.id).values_list('user_id', flat=True))
            for event in await Event.filter(kind=kind)}


async def test_the_cloud_s_reclaim_notice_is_read(novita: FakeNovita) -> None:
    provider = NovitaProvider(API_KEY, novita.url)
    ref = await provider.launch(JobSpec(run_id=1, name='trainboard-run-1', command='', product_id='4090.16c96g.v2',
                                        image='i', gpu_count=1, spot=True))
    state = (await provider.states([ref]))[ref]
    assert (state.reclaim_notice, state.reclaim_at) == (False, None)  # spotStatus 'running', spotReclaimTime '0'
    novita.reclaim(ref, at=1_900_000_000)
    state = (await provider.states([ref]))[ref]
    assert (state.reclaim_notice, state.reclaim_at) == (True, 1_900_000_000.0)
    await provider.terminate(ref)


async def test_a_spot_reclaim_notice_is_told_once_over_several_polls(team: Team, novita: FakeNovita) -> None:
    await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    launched, _ = await run_control.start(team.editor, team.project, name='bert', provider='novita', spec=SPOT_RUN)
    await intents.launch_queued()
    for _ in range(3):
        novita.advance()
        await poller.poll_once()
    run = await Run.get(id=launched['id'])
    assert run.status == RunStatus.RUNNING
    assert await _told('run.spot_reclaim') == {}  # a spot instance with no notice is no news
    at = time.time() + 1800
    novita.reclaim(run.job_ref, at=at)
    for _ in range(3):
        await poller.poll_once()
    [(event_id, told)] = (await _told('run.spot_reclaim')).items()
    event = await Event.get(id=event_id)
    assert event.key == f'spot:{run.id}:{run.job_ref}' and event.run_id == run.id
    hhmm = time.strftime('%H:%M', time.gmtime(at))
    assert event.message.startswith(f'"bert" in vision: Novita will reclaim its spot instance at {hhmm} UTC (in about '
                                    '30 min)')
    assert told == {team.owner.id, team.editor.id}
    assert (await Run.get(id=run.id)).status == RunStatus.RUNNING  # a notice, not an end
    await run_control.act(team.editor, run.id, 'cancel')
    await poller.poll_once()
    assert not novita.live()


async def test_an_orphan_terminated_is_told_once_to_the_credential_s_people(team: Team, novita: FakeNovita) -> None:
    novita.add_account(OTHER_KEY, 'vision-team')
    scoped = await credentials.add(team.owner, provider='novita', label='vision key', secret=OTHER_KEY,
                                   project_id=team.project)
    workspace = await credentials.add(team.admin, provider='novita', label='team', secret=API_KEY)
    in_project = novita.add_orphan('trainboard-run-9001', account='vision-team')
    in_workspace = novita.add_orphan('trainboard-run-9002')
    for _ in range(3):
        await poller.poll_once()
    assert not novita.live()
    events = {e.details['ref']: e for e in await Event.filter(kind='instance.orphan_terminated')}
    assert set(events) == {in_project, in_workspace}  # once each, over three cycles
    ours = events[in_project]
    assert ours.key == f'orphan:novita credential {scoped["id"]}:{in_project}'
    assert ours.project_id == team.project and 'vision key' in ours.message and in_project in ours.message
    told = await _told('instance.orphan_terminated')
    assert told[ours.id] == {team.admin.id, team.owner.id, team.editor.id}  # admins, its owner, its project
    theirs = events[in_workspace]
    assert theirs.project_id is None and theirs.details['credential_id'] == workspace['id']
    assert told[theirs.id] == {team.admin.id}  # a workspace key's: the admins'


async def test_a_failing_credential_is_told_once_each_time_it_starts_to_fail(team: Team, novita: FakeNovita) -> None:
    novita.add_account(OTHER_KEY, 'vision-team')
    scoped = await credentials.add(team.owner, provider='novita', label='vision key', secret=OTHER_KEY,
                                   project_id=team.project)
    provider_health.forget(Account('novita', scoped['id']))  # what an earlier test's credential of that id left
    await poller.poll_once()
    assert await _told('credential.failing') == {}  # it answers
    del novita.accounts[OTHER_KEY]  # revoked on Novita's side
    for _ in range(3):
        await poller.poll_once()
    [(event_id, told)] = (await _told('credential.failing')).items()
    event = await Event.get(id=event_id)
    since = provider_health.of(Account('novita', scoped['id'])).since
    assert event.key == f'credential:{scoped["id"]}:{int(since.timestamp())}'
    assert event.message == ('The Novita credential "vision key" is failing: Novita refused the API key: check the '
                             'credential on the settings page.')
    assert OTHER_KEY not in event.message and OTHER_KEY not in str(event.details)
    assert event.project_id == team.project and told == {team.admin.id, team.owner.id, team.editor.id}

    time.sleep(1.05 - time.time() % 1)  # the next failure starts in another second: its own key
    novita.accounts[OTHER_KEY] = 'vision-team'
    await poller.poll_once()  # answers again
    del novita.accounts[OTHER_KEY]
    await poller.poll_once()
    await poller.poll_once()
    assert await Event.filter(kind='credential.failing').count() == 2
