"""The audit trail people read: every action the issue names leaves an entry with who, the project and readable
details; admins read it all, a project's owners their projects' entries only, and anyone else nothing; the filters
and the CSV export (whose cells a spreadsheet cannot run) say so."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import settings
from models import AuditEntry, MemberRole, Role, Run, RunStatus, User
from services import audit_trail, auth, credentials, lifecycle, projects, run_control
from services.errors import Forbidden, Invalid, NotFound
from services.lifecycle import Cause

S = RunStatus
SECRET = 'nv-very-secret-key-1234'


@dataclass
class Team:
    admin: User
    owner: User  # owns project `a`
    editor: User  # an editor in `a`
    other: User  # owns project `b`
    a: int
    b: int


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv('TRAINBOARD_DATA_DIR', str(tmp_path / 'data'))  # where the secret key for credentials lives
    settings.reload()
    yield


@pytest.fixture
async def team(orm: str, data_dir: None) -> Team:
    admin = await auth.create_user('root@example.com', 'a long password', role=Role.ADMIN)
    owner = await auth.create_user('olga@example.com', 'a long password')
    editor = await auth.create_user('ed@example.com', 'a long password')
    other = await auth.create_user('bo@example.com', 'a long password')
    a = await projects.create_project(owner, name='vision', budget_usd=10)
    b = await projects.create_project(other, name='speech', budget_usd=10)
    await projects.add_member(owner, a['id'], editor.email, MemberRole.EDITOR.value)
    return Team(admin, owner, editor, other, a['id'], b['id'])


async def _running(user: User, project_id: int, name: str = 'bert') -> Run:
    data, _token = await run_control.start(user, project_id, name=name)
    run = await Run.get(id=data['id'])
    assert await lifecycle.move(run, S.RUNNING, cause=Cause.JOB)
    return run


def _one(found: list[audit_trail.AuditView], action: str) -> audit_trail.AuditView:
    matching = [view for view in found if view.action == action]
    assert len(matching) == 1, (action, [view.action for view in found])
    return matching[0]


async def test_run_control_leaves_who_what_and_why(team: Team) -> None:
    run = await _running(team.editor, team.a)
    await run_control.act(team.editor, run.id, 'pause')
    await run_control.act(team.editor, run.id, 'resume')  # called off before the pause was carried out
    await run_control.act(team.owner, run.id, 'stop')
    await run_control.act(team.owner, run.id, 'cancel')

    found = await audit_trail.entries(team.owner, project_id=team.a, action='run.')
    launched = _one(found, 'run.created')
    assert (launched.actor, launched.label, launched.project) == ('ed@example.com', 'Run launched', 'vision')
    assert launched.object == f'run #{run.id} "bert"' and 'on external' in launched.details
    paused = _one(found, 'run.pausing')
    assert (paused.actor, paused.label) == ('ed@example.com', 'Pause requested')
    assert 'Paused by ed@example.com.' in paused.details and 'was running' in paused.details
    resumed = [view for view in found if view.label == 'Run resumed']
    assert [view.actor for view in resumed] == ['ed@example.com']
    stopped = _one(found, 'run.stopping')
    assert (stopped.actor, stopped.label, stopped.project_id) == ('olga@example.com', 'Stop requested', team.a)
    assert 'Stopped by olga@example.com.' in stopped.details
    cancelled = _one(found, 'run.cancelled')
    assert (cancelled.actor, cancelled.label) == ('olga@example.com', 'Run cancelled')
    assert [view.id for view in found] == sorted((view.id for view in found), reverse=True)  # newest first


async def test_a_budget_stop_is_the_system_s_with_its_reason(team: Team) -> None:
    run = await _running(team.owner, team.a)
    assert await run_control.stop_for(run, 'Stopped by the project budget at $10.00.', Cause.BUDGET)
    assert await lifecycle.move(run, S.STOPPED, cause=Cause.PROVIDER)  # the leader carries it out

    [requested] = await audit_trail.entries(team.owner, action='run.stopping')
    assert requested.actor is None and requested.who == 'system'
    assert requested.label == 'Stop requested (budget)'
    assert requested.details.startswith('Stopped by the project budget at $10.00.') and requested.project == 'vision'
    [ended] = await audit_trail.entries(team.owner, action='run.stopped')
    assert ended.label == 'Run stopped (budget)' and ended.who == 'system'
    assert [view.id for view in await audit_trail.entries(team.admin, actor='system', action='run.stopping')] \
        == [requested.id]


async def test_a_budget_change_says_from_what_to_what(team: Team) -> None:
    await projects.update_project(team.owner, team.a, budget_usd=25)
    await projects.update_project(team.owner, team.a, budget_usd=25, description='same budget: no budget entry')
    [changed] = await audit_trail.entries(team.owner, action='project.budget_changed')
    assert (changed.actor, changed.label, changed.project_id) == ('olga@example.com', 'Budget changed', team.a)
    assert changed.details == '$10.00 → $25.00'
    assert len(await audit_trail.entries(team.owner, action='project.updated')) == 2  # kept besides

    await projects.update_project(team.admin, team.a, budget_unlimited=True)
    newest = (await audit_trail.entries(team.admin, action='project.budget_changed'))[0]
    assert newest.actor == 'root@example.com' and newest.details == 'unlimited: no → yes'


async def test_credentials_coming_and_going_belong_to_their_project_without_their_secret(team: Team) -> None:
    added = await credentials.add(team.owner, provider='novita', label='vision key', secret=SECRET,
                                  project_id=team.a)
    await credentials.delete(team.owner, added['id'])
    workspace = await credentials.add(team.admin, provider='novita', label='team key', secret=SECRET)

    found = await audit_trail.entries(team.owner, action='credential.')
    assert [(view.label, view.actor, view.project) for view in found] == [
        ('Credential removed', 'olga@example.com', 'vision'), ('Credential added', 'olga@example.com', 'vision')]
    assert found[0].details == 'novita · "vision key" · project key'
    assert found[0].object == f'credential #{added["id"]} "vision key"'
    everything = await audit_trail.entries(team.admin, action='credential.')
    assert [view.object_id for view in everything][0] == str(workspace['id'])  # the admin reads the workspace's
    assert everything[0].project_id is None
    stored = [entry.details for entry in await AuditEntry.filter(action__startswith='credential.')]
    assert SECRET not in repr(stored) and SECRET[-4:] not in repr(stored)


async def test_members_added_removed_and_their_role_changed(team: Team) -> None:
    await projects.add_member(team.owner, team.a, team.other.email, MemberRole.VIEWER.value)
    await projects.add_member(team.owner, team.a, team.other.email, MemberRole.VIEWER.value)  # no change: no entry
    await projects.add_member(team.owner, team.a, team.other.email, MemberRole.EDITOR.value)
    await projects.remove_member(team.owner, team.a, team.other.id)

    found = await audit_trail.entries(team.owner, action='member.')
    assert [(view.label, view.details) for view in found] == [
        ('Member removed', 'bo@example.com · was editor'),
        ('Member role changed', 'bo@example.com: viewer → editor'),
        ('Member added', 'bo@example.com · as viewer'),
        ('Member added', 'ed@example.com · as editor'),
    ]
    assert {(view.actor, view.project_id) for view in found} == {('olga@example.com', team.a)}


async def test_a_workspace_role_change_says_old_and_new(team: Team) -> None:
    await auth.update_user(team.editor.id, actor=team.admin, role=Role.ADMIN)
    await auth.update_user(team.editor.id, actor=team.admin, is_active=False)
    found = await audit_trail.entries(team.admin, action='user.updated')
    assert [view.details for view in found] == ['ed@example.com · role admin · deactivated',
                                                'ed@example.com · role member → admin']
    assert found[0].object == f'user #{team.editor.id} "ed@example.com"'


async def test_owners_read_their_projects_entries_only_and_editors_nothing(team: Team) -> None:
    await _running(team.owner, team.a, 'in vision')
    await _running(team.other, team.b, 'in speech')
    await auth.create_user('new@example.com', 'a long password', actor=team.admin)

    mine = await audit_trail.entries(team.owner)
    assert mine and {view.project_id for view in mine} == {team.a}
    theirs = await audit_trail.entries(team.other)
    assert theirs and {view.project_id for view in theirs} == {team.b}
    everything = await audit_trail.entries(team.admin)
    assert {view.project_id for view in everything} == {team.a, team.b, None}  # user.created is the workspace's
    with pytest.raises(Forbidden, match='project owners'):
        await audit_trail.entries(team.editor)
    assert not await audit_trail.may_read(team.editor) and await audit_trail.may_read(team.owner)
    with pytest.raises(NotFound):
        await audit_trail.entries(team.owner, project_id=team.b)  # not theirs: not even known
    # a member with the owner role reads the project's trail too
    await projects.add_member(team.owner, team.a, team.editor.email, MemberRole.OWNER.value)
    assert {view.project_id for view in await audit_trail.entries(team.editor)} == {team.a}


async def test_filters_by_person_project_action_and_time(team: Team) -> None:
    await _running(team.editor, team.a, 'by ed')
    await _running(team.owner, team.a, 'by olga')
    await _running(team.other, team.b, 'by bo')

    by_ed = await audit_trail.entries(team.admin, actor='ed@example.com', action='run.created')
    assert [view.object for view in by_ed] == [f'run #{by_ed[0].object_id} "by ed"']
    by_id = await audit_trail.entries(team.admin, actor=team.editor.id, action='run.created')
    assert by_id == by_ed
    assert await audit_trail.entries(team.admin, actor='nobody@example.com') == []
    in_b = await audit_trail.entries(team.admin, project_id=team.b)
    assert in_b and {view.project for view in in_b} == {'speech'}
    created = await audit_trail.entries(team.admin, action='run.created')
    assert len(created) == 3 and {view.action for view in created} == {'run.created'}
    assert len(await audit_trail.entries(team.admin, action='run.')) == 6  # and each one's move to running

    now = datetime.now(UTC)
    assert len(await audit_trail.entries(team.admin, action='run.created', since=now - timedelta(minutes=5))) == 3
    assert await audit_trail.entries(team.admin, since=(now + timedelta(minutes=5)).isoformat()) == []
    assert await audit_trail.entries(team.admin, until=(now - timedelta(days=1)).date().isoformat()) == []
    assert len(await audit_trail.entries(team.admin, action='run.created', until=now.date().isoformat())) == 3
    late = await AuditEntry.filter(action='run.created').order_by('-id').first()
    await AuditEntry.filter(id=late.id).update(created_at=now - timedelta(days=3))
    assert [view.id for view in await audit_trail.entries(
        team.admin, until=(now - timedelta(days=2)).isoformat())] == [late.id]

    first = await audit_trail.page(team.admin, limit=2)
    second = await audit_trail.page(team.admin, limit=2, before=first.next_before)
    assert len(first.items) == 2 and first.next_before == first.items[-1].id
    assert all(view.id < first.next_before for view in second.items)
    everything = await audit_trail.page(team.admin, limit=500)
    assert everything.next_before is None


@pytest.mark.parametrize(('filters', 'field'), [
    ({'since': 'yesterday'}, 'since'), ({'until': '2026-13-01'}, 'until'), ({'since': '2026-01-01\x00'}, 'since'),
    ({'since': '9999-12-31T23:00:00-05:00'}, 'since'), ({'until': '9999-12-31'}, 'until'),
    ({'since': '2026-02-01', 'until': '2026-01-01'}, 'until'), ({'action': 'run.*'}, 'action'),
    ({'action': 'DROP TABLE'}, 'action'), ({'actor': 'x\x00@y'}, 'actor'), ({'actor': 'not an email'}, 'actor'),
    ({'actor': str(2**40)}, 'actor'), ({'actor': '²'}, 'actor'), ({'project_id': 2**40}, 'project_id'),
    ({'before': 2**70}, 'before'), ({'before': 'ten'}, 'before'), ({'limit': 0}, 'limit'), ({'limit': 501}, 'limit'),
])
async def test_bad_filters_are_refused_naming_the_filter(team: Team, filters: dict, field: str) -> None:
    with pytest.raises(Invalid, match=f'^{field}'):
        await audit_trail.entries(team.admin, **filters)


async def test_an_unknown_project_is_not_found_but_a_deleted_one_s_trail_stays_readable(team: Team) -> None:
    with pytest.raises(NotFound):
        await audit_trail.entries(team.admin, project_id=999_999)
    await projects.delete_project(team.other, team.b)
    [deleted] = await audit_trail.entries(team.admin, project_id=team.b, action='project.deleted')
    assert deleted.project is None and deleted.object == f'project #{team.b} "speech"'
    with pytest.raises(Forbidden):  # its owner owns nothing now
        await audit_trail.entries(team.other)


async def test_the_csv_has_a_header_the_rows_and_no_formula_a_spreadsheet_would_run(team: Team) -> None:
    hostile = await projects.create_project(team.owner, name='=HYPERLINK("http://evil.example","click")')
    await _running(team.owner, hostile['id'], '+cmd|calc')
    await projects.update_project(team.owner, hostile['id'], budget_usd=3)

    lines = [line async for line in await audit_trail.csv_export(team.owner, project_id=hostile['id'])]
    rows = list(csv.reader(io.StringIO(''.join(lines))))
    assert tuple(rows[0]) == audit_trail.CSV_HEADER
    views = await audit_trail.entries(team.owner, project_id=hostile['id'])
    assert [int(row[0]) for row in rows[1:]] == [view.id for view in views] and len(views) == 5
    by_action = {row[3]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_action['run.created']['project'] == '\'=HYPERLINK("http://evil.example","click")'
    assert by_action['run.created']['object'] == f'run #{by_action["run.created"]["object_id"]} "+cmd|calc"'
    assert by_action['run.created']['actor'] == 'olga@example.com'
    assert by_action['project.budget_changed']['details'] == '$0.00 → $3.00'
    assert datetime.fromisoformat(by_action['run.created']['when_utc']).utcoffset() == timedelta(0)
    assert not any(cell.startswith(('=', '+', '-', '@', '\t', '\r')) for row in rows for cell in row)
    assert audit_trail.neutralised('-1') == "'-1" and audit_trail.neutralised('\tx') == "'\tx"

    with pytest.raises(Forbidden):  # refused before the first line
        await audit_trail.csv_export(team.editor)
    assert len([line async for line in await audit_trail.csv_export(team.admin)]) \
        == 1 + len(await audit_trail.entries(team.admin, limit=500))
