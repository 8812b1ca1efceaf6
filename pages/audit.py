"""/audit: who did what and when. Admins read every entry, project owners their projects'; anyone else is told so.

Filters (person, project, action, UTC dates), newer/older pages, a CSV download of the filtered view. Live: a change
from the hub (any but metric points) makes the tab ask whether a newer entry exists, and read the page again if so;
entries written inside a transaction are announced by the change their writer publishes once committed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from components import format, live, session
from components.frame import frame
from services import audit, audit_trail
from services.audit_trail import AuditPage, AuditView
from services.errors import ServiceError

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 20_000  # a download goes through the tab's websocket; the API streams any number
ALL_PROJECTS = 0
FIELDS = {'actor': 'Person', 'project_id': 'Project', 'action': 'Action', 'since': 'From', 'until': 'To'}
PHONE = "window.matchMedia('(max-width: 599px)').matches"  # a card per entry there, not six columns to scroll
COLUMNS = [
    {'name': 'when', 'label': 'When (UTC)', 'field': 'when', 'align': 'left', 'style': 'white-space: nowrap'},
    {'name': 'who', 'label': 'Who', 'field': 'who', 'align': 'left'},
    {'name': 'action', 'label': 'Action', 'field': 'action', 'align': 'left'},
    {'name': 'object', 'label': 'Object', 'field': 'object', 'align': 'left'},
    {'name': 'project', 'label': 'Project', 'field': 'project', 'align': 'left'},
    {'name': 'details', 'label': 'Details', 'field': 'details', 'align': 'left',
     'style': 'white-space: normal; min-width: 16rem', 'headerStyle': 'min-width: 16rem'},
]


@dataclass(slots=True)
class _Paging:
    cursors: list[int | None] = field(default_factory=lambda: [None])  # the `before` of each page seen; last: shown
    next_before: int | None = None
    newest_seen: int | None = None  # the newest entry the reader could read when this page was read


@ui.page('/audit')
async def audit_page() -> None:
    user = await session.current_user()
    if user is None:
        return
    if not await audit_trail.may_read(user):
        with frame('Audit', user):
            ui.label('Not allowed: only admins and project owners can read the audit trail.').classes('text-h6')
            ui.label('You own no project, so there is no trail for you to read here.').classes('text-grey-8')
            ui.link('Back to projects', '/projects')
        return
    projects = await audit_trail.readable_projects(user)
    paging = _Paging()

    def filters() -> dict[str, Any]:
        return {'actor': person.value or None, 'project_id': project.value or None, 'action': action.value or None,
                'since': since.value or None, 'until': until.value or None}

    async def read(before: int | None) -> AuditPage | None:
        if (reader := await session.current_user()) is None:
            return None
        try:
            newest = await audit_trail.latest_id(reader)
            found = await audit_trail.page(reader, **filters(), before=before, limit=PAGE_SIZE)
        except ServiceError as error:
            hint.set_text(_as_on_screen(error.message))
            refused()
            return None
        hint.set_text('')
        paging.newest_seen = newest
        return found

    def refused() -> None:
        """A filter the trail cannot apply shows no entries (not those of the filter before it) until it is fixed."""
        paging.cursors, paging.next_before, paging.newest_seen = [None], None, None
        table.rows[:] = []
        table.update()
        empty.set_text('No entries: the filter above needs fixing.')
        empty.set_visibility(True)
        newer.set_enabled(False)
        older.set_enabled(False)

    async def show(before: int | None) -> None:
        found = await read(before)
        if found is not None:
            render(found)

    def render(found: AuditPage) -> None:
        paging.next_before = found.next_before
        table.rows[:] = [_row(view) for view in found.items]
        table.update()
        empty.set_text('No entries match.')
        empty.set_visibility(not found.items)
        newer.set_enabled(len(paging.cursors) > 1)
        older.set_enabled(found.next_before is not None)

    async def refilter() -> None:
        paging.cursors = [None]
        await show(None)

    async def go_older() -> None:
        if paging.next_before is not None:
            paging.cursors.append(paging.next_before)
            await show(paging.next_before)

    async def go_newer() -> None:
        if len(paging.cursors) > 1:
            paging.cursors.pop()
            await show(paging.cursors[-1])

    async def export() -> None:
        if (reader := await session.current_user()) is None:
            return
        try:
            lines = await audit_trail.csv_export(reader, **filters())
        except ServiceError as error:
            hint.set_text(_as_on_screen(error.message))
            return
        chunks, cut = [], False
        async for line in lines:
            if len(chunks) > EXPORT_MAX_ROWS:  # the header, then the rows
                cut = True
                break
            chunks.append(line)
        ui.download.content(''.join(chunks).encode(), f'trainboard-audit-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv',
                            'text/csv')
        if cut:
            ui.notify(f'The download has the newest {EXPORT_MAX_ROWS:,} entries; GET /api/v1/audit?format=csv '
                      'streams them all.', type='warning')

    async def fetch_if_newer(_key: str) -> tuple[int | None, AuditPage] | None:
        """On the first page only: a newer entry, if the reader may read one, reads the page again. Run as a task of
        no tab (live.Rereads shares reads): it reads as the user the page was built for, whom the services check."""
        if len(paging.cursors) > 1:
            return None
        try:
            if (newest := await audit_trail.latest_id(user)) == paging.newest_seen:
                return None
            return newest, await audit_trail.page(user, **filters(), limit=PAGE_SIZE)
        except ServiceError:  # no longer theirs to read, or filters half typed: the next action says why
            return None

    def show_if_read(_key: str, read: tuple[int | None, AuditPage] | None) -> None:
        if read is not None and len(paging.cursors) == 1:
            paging.newest_seen = read[0]
            render(read[1])

    with frame('Audit', user):
        ui.label('Audit trail').classes('text-h5')
        ui.label('Who did what, and when: everything' if user.is_admin else
                 'Who did what, and when, in the projects you own.').classes('text-grey-8')
        with ui.row().classes('items-end gap-3 w-full'):
            person = ui.input('Person', placeholder='email, id or "system"').props('dense clearable') \
                .classes('w-56 max-sm:w-full').mark('audit-person')
            project = ui.select({ALL_PROJECTS: 'All projects', **projects}, value=ALL_PROJECTS, label='Project',
                                with_input=True).props('dense').classes('w-48 max-sm:w-full').mark('audit-project')
            action = ui.select({'': 'All actions', **audit.action_choices()}, value='', label='Action',
                               with_input=True).props('dense').classes('w-56 max-sm:w-full').mark('audit-action')
            since = ui.input('From (UTC)').props('type=date dense stack-label clearable').classes('w-40') \
                .mark('audit-since')
            until = ui.input('To (UTC)').props('type=date dense stack-label clearable').classes('w-40') \
                .mark('audit-until')
            ui.button('Export CSV', icon='download', on_click=export).props('outline')
        hint = ui.label('').classes('text-negative')
        # no rows: the page's own line says why (no match, or a filter to fix), not Quasar's "No data available"
        columns = [{**column, 'label': f'When ({format.zone_name()})'} if column['name'] == 'when' else column
                   for column in COLUMNS]  # the viewer's zone (components/clock)
        table = ui.table(columns=columns, rows=[], row_key='id').classes('w-full') \
            .props(f':grid="{PHONE}" wrap-cells flat bordered hide-no-data hide-pagination '
                   ':pagination="{rowsPerPage: 0}"')
        table.add_slot('body-cell-object', '<q-td :props="props"><a v-if="props.row.href" :href="props.row.href" '
                                           'class="text-primary">{{ props.value }}</a>'
                                           '<span v-else>{{ props.value }}</span></q-td>')
        # on a phone, a card per entry: when and who, then what, on which object, and the details (text only)
        table.add_slot('item', '<div class="q-pa-xs col-12"><q-card flat bordered class="q-pa-sm">'
                               '<div class="text-caption text-grey-8">{{ props.row.when }} · {{ props.row.who }}'
                               '</div><div class="text-weight-medium">{{ props.row.action }}</div>'
                               '<div class="text-body2">{{ props.row.object }} · {{ props.row.project }}</div>'
                               '<div class="text-body2 text-grey-8">{{ props.row.details }}</div></q-card></div>')
        empty = ui.label('No entries match.').classes('text-grey-8')
        with ui.row().classes('gap-2'):
            newer = ui.button('Newer', icon='chevron_left', on_click=go_newer).props('flat')
            older = ui.button('Older', icon='chevron_right', on_click=go_older).props('flat')
    person.on('keydown.enter', refilter)
    person.on('blur', refilter)
    person.on('clear', refilter)
    for chosen in (project, action, since, until):
        chosen.on_value_change(refilter)
    await show(None)
    rereads: live.Rereads[str, tuple[int | None, AuditPage] | None] = live.Rereads(fetch_if_newer, show_if_read)
    live.on_change(lambda change: rereads.ask('audit') if change.kind != 'metrics' else None)


def _row(view: AuditView) -> dict[str, Any]:
    """What a row shows: text only (the table renders each value as text, never as markup)."""
    href = f'/runs/{view.object_id}' if view.object_type == 'run' and view.project else ''
    if not href and view.object_type == 'project' and view.project:
        href = f'/projects/{view.object_id}'
    return {'id': view.id, 'when': format.timestamp(view.at, seconds=True), 'who': view.who, 'action': view.label,
            'object': view.object, 'project': view.project or ('—' if view.project_id is None else
                                                               f'#{view.project_id} (deleted)'),
            'details': view.details, 'href': href}


def _as_on_screen(message: str) -> str:
    """A service's message names the filter as the API does ('until: must be later than since.', 'actor is too
    long'); the page says it as its form does ('To: must be later than From.', 'Person is too long')."""
    field, separator, rest = _first_word(message)
    if field not in FIELDS:
        return message
    rest = re.sub(r'\b(since|until)\b', lambda m: FIELDS[m.group(1)], rest)
    return f'{FIELDS[field]}{separator}{rest}'


def _first_word(message: str) -> tuple[str, str, str]:
    """('until', ':', ' must be...') from 'until: must be...'; ('actor', ' ', 'is too long') from 'actor is...'."""
    match = re.match(r'([a-z_]+)([: ])(.*)', message, re.DOTALL)
    return (match.group(1), match.group(2), match.group(3)) if match else ('', '', message)
