"""/status: is everything connected? Database, scheduler, websocket and a live round-trip in milliseconds."""

import time

from nicegui import ui

import settings
from components import format, session
from components.frame import frame
from services import credentials, database, hub
from services.background import poller, scheduler

ROUND_TRIP_EVERY_S = 5.0

# Quasar's green reads at 2.5:1 on white: the answers take a darker one (a lighter one on the dark page); in the
# overrides layer, as Quasar's colour classes are !important in a later one
STATUS_CSS = ('@layer overrides { .tb-status .text-positive { color: #1e7e34 !important; } '
              '.body--dark .tb-status .text-positive { color: #6fcf83 !important; } }')


@ui.page('/status')
async def status_page() -> None:
    user = await session.current_user()
    if user is None:
        return
    client = ui.context.client

    async def check_database() -> None:
        try:
            seconds = await database.ping()
        except Exception as error:  # shown on the page: this page exists to tell what is broken
            database_label.set_text(f'unreachable: {error}')
            database_label.classes(replace='text-negative')
            return
        backend = 'PostgreSQL' if database.is_postgres(settings.current.database_url) else 'SQLite'
        database_label.set_text(f'{backend}, answered in {seconds * 1000:.1f} ms')
        database_label.classes(replace='text-positive')

    def check_scheduler() -> None:
        state = scheduler.status()
        if state['running']:
            jobs = ', '.join(str(job['id']) for job in state['jobs'])
            role = {None: '', True: '; this process leads', False: '; another process leads and polls'}
            scheduler_label.set_text(f'running ({jobs}){role[state["leader"]]}')
            scheduler_label.classes(replace='text-positive')
        else:
            scheduler_label.set_text('disabled by TRAINBOARD_SCHEDULER_ENABLED' if not state['enabled']
                                     else 'not running')
            scheduler_label.classes(replace='text-warning' if not state['enabled'] else 'text-negative')
        listening = hub.listening()
        hub_label.set_text('this process only (SQLite)' if listening is None else
                           'listening to other processes' if listening else 'not listening: reconnecting')
        hub_label.classes(replace='text-negative' if listening is False else 'text-positive')

    async def check_providers() -> None:
        """This machine, and every credential the user may see: one failing says so, with the reason."""
        local = poller.status_of('local')
        outages = [f'local unreachable since {format.absolute(local["since"])}: {local["error"]}'] \
            if local and not local['ok'] else []
        outages += [f'{c["provider"]} credential "{c["label"]}" ({c["scope_label"]}) failing since '
                    f'{format.absolute(c["failing_since"])}: {c["error"]}'
                    for c in await credentials.listed(user) if not c['ok']]
        providers_label.set_text('; '.join(outages) or 'all reachable')
        providers_label.classes(replace='text-negative' if outages else 'text-positive')

    async def round_trip() -> None:
        if not client.has_socket_connection:
            websocket.set_text('reconnecting…')
            websocket.classes(replace='text-warning')
            return
        start = time.perf_counter()
        try:
            await ui.run_javascript('Date.now()', timeout=3.0)
        except TimeoutError:
            websocket.set_text('no answer from the browser within 3 s')
            websocket.classes(replace='text-negative')
            return
        websocket.set_text('connected')
        websocket.classes(replace='text-positive')
        latency.set_text(f'{(time.perf_counter() - start) * 1000:.1f} ms')

    async def check_all() -> None:
        await check_database()
        check_scheduler()
        await check_providers()
        await round_trip()

    with frame('Status', user):
        ui.label('Status').classes('text-h5')
        ui.add_css(STATUS_CSS)
        with ui.grid(columns='auto 1fr').classes('tb-status gap-x-8 gap-y-2 items-center'):
            ui.label('Database').classes('text-bold')
            database_label = ui.label('checking…')
            ui.label('Scheduler').classes('text-bold')
            scheduler_label = ui.label('checking…')
            ui.label('Providers').classes('text-bold')
            providers_label = ui.label('checking…')
            ui.label('Live updates').classes('text-bold')
            hub_label = ui.label('checking…')
            ui.label('Websocket').classes('text-bold')
            websocket = ui.label('connecting…')
            ui.label('Round-trip').classes('text-bold')
            latency = ui.label('measuring…')
        ui.button('Check again', icon='refresh', on_click=check_all).props('outline')
    await client.connected()
    await check_all()
    ui.timer(ROUND_TRIP_EVERY_S, round_trip)  # the websocket only: the database is checked on demand

