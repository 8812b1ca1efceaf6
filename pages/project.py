"""/projects/{id}: the project's header with its budget, its runs and its members, kept live by the hub."""

from functools import partial
from typing import Any

from nicegui import ui

from components import live, session
from components.budget_bar import BudgetBar
from components.frame import frame, not_found
from components.new_run_dialog import new_run
from components.notification_targets import notification_targets_panel
from components.reads import read_project
from components.runs_panel import RunsPanel
from components.status_badge import StatusBadge
from models import MemberRole
from services import hub, projects
from services.errors import ServiceError
from services.run_table import RunRow


@ui.page('/projects/{project_id}')
async def project_page(project_id: int) -> None:
    user = await session.current_user()
    if user is None:
        return
    try:
        project = await projects.get_project(user, project_id)
    except ServiceError as error:
        not_found(user, error.message)
        return
    data = await projects.snapshot(project)
    role = await projects.role_of(user, project)

    def show(data: dict[str, Any]) -> None:
        title.set_text(data['name'])
        badge.set_status(data['status'])
        description.set_text(data['description'] or 'No description')
        budget.set_amounts(data['used_usd'], data['budget_usd'])

    def show_project(_: int, data: dict[str, Any] | None) -> None:
        if data is not None:  # else the frame follows a lost access; a deletion comes as its own change
            show(data)

    def show_run(run_id: int, row: RunRow | None) -> None:
        panel.put(run_id, row)
        empty.visible = panel.empty

    # not shared between tabs: each reads the metric columns it shows
    run_rereads = live.Rereads(lambda run_id: panel.read(run_id), show_run)
    project_rereads = live.Rereads(partial(read_project, user), show_project, shared_by=('project', user.id))

    async def apply(change: hub.Change) -> None:
        """Changes say what changed, not what it became: re-read what concerns this page."""
        if change.project_id != project_id:
            return
        if change.kind == 'project' and change.action == 'deleted':
            gone.visible = True
            content.visible = False
        elif change.kind == 'project':
            await project_rereads.ask(project_id)
        elif change.kind == 'run' and change.action == 'deleted':
            panel.removed(change.id)
            empty.visible = panel.empty
        elif change.kind == 'run':
            await run_rereads.ask(change.id)
        elif change.kind == 'runs':  # many runs at once (archived, tagged): read them all again, once
            await panel.reload()
            empty.visible = panel.empty

    with frame(data['name'], user, project_id=project_id, wide=True):
        with ui.card().classes('w-full') as gone:
            ui.label('This project was deleted.').classes('text-h6 text-negative')
            ui.link('Back to projects', '/projects')
        gone.visible = False
        with ui.column().classes('w-full gap-4') as content:
            with ui.row().classes('items-center gap-3'):
                ui.link('Projects', '/projects').classes('text-grey-7')
                ui.label('/').classes('text-grey-7')
                title = ui.label().classes('text-h5')
                badge = StatusBadge(data['status'])
            description = ui.label().classes('text-grey-8')
            budget = BudgetBar(data['used_usd'], data['budget_usd'])
            with ui.row().classes('w-full items-center justify-between'):
                ui.label('Runs').classes('text-h6')
                if role != MemberRole.VIEWER:
                    ui.button('New run', icon='rocket_launch', on_click=lambda: new_run(user, project_id))
            with ui.card().classes('w-full runs-card'):
                panel = await RunsPanel.create(user, project_id, editable=role != MemberRole.VIEWER)
                with ui.column().classes('w-full items-center py-6') as empty:
                    ui.icon('rocket_launch', size='lg').classes('text-grey-5')
                    ui.label('No runs yet. Runs reported through the API or launched here appear at once.') \
                        .classes('text-grey-7 text-center')
                empty.visible = panel.empty
            await _members_panel(user, project_id, manage=role == MemberRole.OWNER)
            if role == MemberRole.OWNER:  # Slack and webhooks, and how deliveries went: the owners' business
                await notification_targets_panel(user, project_id)
    show(data)
    live.on_change(apply)
    # the page is sent with the first page's metric columns; every run's follow once the tab is there
    await ui.context.client.connected()
    if not ui.context.client.is_deleted and not gone.visible:
        await panel.complete()
        empty.visible = panel.empty


async def _members_panel(user, project_id: int, *, manage: bool) -> None:
    with ui.expansion('Members', icon='group').classes('w-full'):
        rows = ui.column().classes('w-full gap-1')

        async def refresh() -> None:
            rows.clear()
            with rows:
                for member in await projects.members(user, project_id):
                    with ui.row().classes('items-center gap-3'):
                        ui.label(member.email)
                        ui.badge(member.role.value).props('outline')
                        if manage and not member.is_project_owner:
                            ui.button(icon='person_remove', on_click=lambda m=member: remove(m)) \
                                .props('flat dense round').mark('remove-member').tooltip('Remove')

        async def add() -> None:
            try:
                await projects.add_member(user, project_id, email.value, role.value)
            except ServiceError as error:
                hint.set_text(error.message)
                return
            ui.notify(f'Added {email.value} as {role.value}', type='positive')
            hint.set_text('')
            email.set_value('')
            await refresh()

        async def remove(member: projects.MemberView) -> None:
            try:
                await projects.remove_member(user, project_id, member.user_id)
            except ServiceError as error:
                ui.notify(error.message, type='negative')
            await refresh()

        await refresh()
        if manage:
            with ui.row().classes('items-center'):
                email = ui.input('Email').classes('w-64')
                role = ui.select(['viewer', 'editor', 'owner'], value='viewer', label='Role').classes('w-32')
                ui.button('Add member', on_click=add)
            hint = ui.label().classes('text-negative')
