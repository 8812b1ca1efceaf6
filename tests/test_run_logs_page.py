"""/runs/{id}: the breadcrumb names the project (live), times are the viewer's, and the log reads its whole history
from the server: older pages, search, a level filter, an empty state instead of a grey box, and a download."""

from nicegui.testing import User

from components.log_viewer import LogViewer
from models import Run, RunStatus
from models import User as UserModel
from services import ingest, lifecycle, projects, runs
from services.lifecycle import Cause
from tests.helpers import ADMIN_EMAIL, eventually


async def new_run(project_name: str = 'Vision') -> dict:
    owner = await UserModel.get(email=ADMIN_EMAIL)
    project = await projects.create_project(owner, name=project_name)
    data, _ = await runs.create_run(owner, project['id'], name='resnet-lr3', config={'lr': 0.001})
    return data


def lines_shown(user: User) -> list[str]:
    return [child.text for child in viewer(user).box.default_slot.children]


def viewer(user: User) -> LogViewer:
    return next(iter(user.find(LogViewer).elements))


async def test_the_breadcrumb_names_the_project_and_follows_a_rename(admin: User) -> None:
    run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    crumbs = next(iter(admin.find(marker='breadcrumb').elements))
    assert [child.text for child in crumbs.default_slot.children] == ['Projects', '/', 'Vision', '/', 'resnet-lr3']
    owner = await UserModel.get(email=ADMIN_EMAIL)
    await projects.update_project(owner, run['project_id'], name='Vision v2')
    await eventually(lambda: crumbs.default_slot.children[2].text == 'Vision v2', every_s=0.1)


async def test_a_run_without_lines_says_so_and_how_runs_send_them(admin: User) -> None:
    run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('No log lines yet')
    assert 'run.print(...)' in viewer(admin).empty_hint.text  # the SDK's way; a launched run's output shows itself
    assert not viewer(admin).box.visible  # no empty grey box

    await ingest.report(await Run.get(id=run['id']), {'logs': ['epoch 1 starts']})
    await admin.should_see('epoch 1 starts', retries=30)
    await admin.should_not_see('No log lines yet')


async def test_older_lines_load_a_page_at_a_time_and_live_lines_follow(admin: User) -> None:
    run = await new_run()
    model = await Run.get(id=run['id'])
    await lifecycle.move(model, RunStatus.RUNNING, cause=Cause.JOB)
    for start in range(0, 1000, 250):
        await ingest.report(model, {'logs': [f'line {n}' for n in range(start, start + 250)]})
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('line 999')
    assert lines_shown(admin) == [f'line {n}' for n in range(800, 1000)]  # the newest page
    admin.find('Load earlier lines').click()
    await eventually(lambda: len(lines_shown(admin)) == 400, every_s=0.1)
    assert lines_shown(admin) == [f'line {n}' for n in range(600, 1000)]
    for _ in range(3):
        await viewer(admin).load_earlier()  # what scrolling to the top asks for
    assert lines_shown(admin) == [f'line {n}' for n in range(1000)]  # the whole history, the first line too
    await admin.should_not_see('Load earlier lines')

    await ingest.report(model, {'logs': ['line 1000', 'line 1001']})
    await eventually(lambda: lines_shown(admin)[-2:] == ['line 1000', 'line 1001'], every_s=0.1)
    assert len(lines_shown(admin)) == 1002  # each line once


async def test_search_and_level_filter_read_from_the_server(admin: User) -> None:
    run = await new_run()
    model = await Run.get(id=run['id'])
    await lifecycle.move(model, RunStatus.RUNNING, cause=Cause.JOB)
    await ingest.report(model, {'logs': [f'INFO step {n}' for n in range(600)]
                                + ['WARNING loss is NaN at step 600', 'ERROR giving up']})
    await admin.open(f'/runs/{run["id"]}')
    await admin.should_see('ERROR giving up')
    viewer(admin).search.set_value('STEP 1')  # any case; older than the page shown
    await eventually(lambda: lines_shown(admin)[:3] == ['INFO step 1', 'INFO step 10', 'INFO step 11'], every_s=0.1)
    assert len(lines_shown(admin)) == 111 and all('step 1' in line for line in lines_shown(admin))

    viewer(admin).search.set_value('nothing like this')
    await admin.should_see('No lines match')
    viewer(admin).search.set_value('')
    viewer(admin).level.set_value('warning')
    await eventually(lambda: lines_shown(admin) == ['WARNING loss is NaN at step 600', 'ERROR giving up'],
                     every_s=0.1)
    await ingest.report(model, {'logs': ['INFO step 601', 'ERROR again']})  # live lines keep to the filter
    await eventually(lambda: lines_shown(admin)[-1] == 'ERROR again', every_s=0.1)
    assert 'INFO step 601' not in lines_shown(admin)


async def test_the_download_link_offers_the_whole_log(admin: User) -> None:
    run = await new_run()
    await admin.open(f'/runs/{run["id"]}')
    assert not viewer(admin).tools.visible  # nothing to download, search or follow yet
    await ingest.report(await Run.get(id=run['id']), {'logs': ['epoch 1 starts']})
    await admin.should_see('epoch 1 starts', retries=30)
    link = next(iter(admin.find(marker='log-download').elements))
    assert link.props['href'] == f'/runs/{run["id"]}/log/download'
