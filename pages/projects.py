"""/projects: every project the user can see, kept live by the hub (no per-tab polling)."""

from functools import partial
from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from components import live, session
from components.dialogs import confirm, project_form
from components.frame import frame
from components.project_card import CARD_CSS, ProjectCard
from components.reads import read_project
from services import artifact_overview, hub, projects, sample_data
from services.errors import NeedsConfirmation, ServiceError


@ui.page('/')
def index() -> RedirectResponse:
    return RedirectResponse('/projects')


@ui.page('/projects')
async def projects_page() -> None:
    user = await session.current_user()
    if user is None:
        return
    cards: dict[int, ProjectCard] = {}

    def add_card(data: dict[str, Any]) -> None:
        if data['id'] in cards:
            cards[data['id']].show(data)
            return
        with container:
            card = ProjectCard(data, on_edit=edit, on_archive=archive, on_delete=delete)
        card.move(target_index=0)  # newest first
        cards[data['id']] = card
        refresh_empty_state()

    def remove_card(project_id: int) -> None:
        card = cards.pop(project_id, None)
        if card is not None:
            container.remove(card)
        refresh_empty_state()

    def refresh_empty_state() -> None:
        # built only while shown: NiceGUI re-renders a tab's whole element tree on every update, hidden parts too
        empty.set_visibility(not cards)  # its padding would leave a gap above the cards
        if cards:
            empty.clear()
        elif not empty.default_slot.children:
            with empty:
                ui.icon('inventory_2', size='xl').classes('text-grey-5')
                ui.label('No projects yet').classes('text-h6 text-grey-8')
                ui.label('Create one with "New project", or load sample data to look around.').classes('text-grey-7')
                ui.button('Load sample data', icon='science', on_click=load_samples)

    def show(project_id: int, data: dict[str, Any] | None) -> None:
        if data is None:  # deleted, or no longer this user's to see
            remove_card(project_id)
        else:
            add_card(data)

    rereads = live.Rereads(partial(read_project, user), show, shared_by=('project', user.id))

    async def apply(change: hub.Change) -> None:
        """Changes say which project changed, not what it became, nor who may see it now: re-read it."""
        if change.kind != 'project':
            return
        if change.action == 'deleted':
            remove_card(change.id)
        else:
            await rereads.ask(change.id)

    async def create() -> None:
        async def save(values: dict[str, Any]) -> None:
            data = await projects.create_project(user, **values)
            add_card(data)
            ui.notify(f'Created "{data["name"]}"', type='positive')
        await project_form('New project', save, button='Create', admin=user.is_admin)

    async def edit(card: ProjectCard) -> None:
        async def save(values: dict[str, Any]) -> None:
            try:
                data = await projects.update_project(user, card.data['id'], **values)
            except NeedsConfirmation as question:  # a budget lowered so far that runs stop: say which, ask
                if not await confirm(question.message, action='Lower the budget'):
                    raise ServiceError('Not saved: the budget stays as it was.') from None
                data = await projects.update_project(user, card.data['id'], confirm=True, **values)
            card.show(data)
            ui.notify('Saved', type='positive')
            if values.get('artifact_bucket') and \
                    (problem := await artifact_overview.project_problem(user, card.data['id'])):  # say it at once
                ui.notify(f'Its artifacts cannot be stored there: {problem}', type='warning', multi_line=True,
                          timeout=0, close_button='Dismiss')
        await project_form(f'Edit "{card.data["name"]}"', save, values=card.data, admin=user.is_admin)

    async def archive(card: ProjectCard) -> None:
        before = card.data
        status = 'active' if before['status'] == 'archived' else 'archived'
        card.show({**before, 'status': status})  # at once; put back if the server refuses
        try:
            await projects.update_project(user, before['id'], status=status)
        except ServiceError as error:
            card.show(before)
            ui.notify(f'Could not {"restore" if status == "active" else "archive"} "{before["name"]}": '
                      f'{error.message}', type='negative')

    async def delete(card: ProjectCard) -> None:
        data = card.data
        runs = sum(data['run_counts'].values())
        if not await confirm(f'Delete "{data["name"]}"' + (f' and its {runs} runs' if runs else '') +
                             '? This cannot be undone.'):
            return
        remove_card(data['id'])
        # the toast goes through the page: this handler's own place (the card's Delete button) is gone with the card
        with page:
            try:
                await projects.delete_project(user, data['id'])
            except ServiceError as error:
                add_card(data)
                ui.notify(f'Could not delete "{data["name"]}": {error.message}', type='negative')
                return
            ui.notify(f'Deleted "{data["name"]}"', type='positive')

    async def load_samples() -> None:
        created = await sample_data.load(user)
        for project in created:
            add_card(await projects.snapshot(project))
        ui.notify(f'Loaded {len(created)} sample projects' if created else 'The sample projects are already here')

    ui.add_css(CARD_CSS)
    with frame('Projects', user) as page:
        with ui.row().classes('w-full items-center justify-between'):
            ui.label('Projects').classes('text-h5')
            with ui.row().classes('items-center gap-1'):
                ui.button('New project', icon='add', on_click=create)
                if user.is_admin:  # sample data stays at hand once projects exist (loading it twice adds nothing)
                    more = ui.button(icon='more_vert').props('flat round aria-label="More actions"') \
                        .mark('projects-menu')
                    with more, ui.menu():
                        ui.menu_item('Load sample data', on_click=load_samples).mark('load-sample-data')
        empty = ui.column().classes('w-full items-center py-12 gap-2')
        container = ui.column().classes('w-full gap-3')
    for data in reversed(await projects.snapshots(await projects.visible_projects(user))):
        add_card(data)
    refresh_empty_state()
    live.on_change(apply)
