"""/runs/{id}: a run, live: status, progress and ETA, cost and forecast, steps, metric charts, log tail, config."""

import json
from typing import Any

from nicegui import ui

from components import format, live
from components.frame import frame, not_found
from components.metric_chart import MetricChart
from components.run_controls import RunControls
from components.status_badge import StatusBadge
from components.step_timeline import StepTimeline
from pages import session
from services import hub, ingest, metric_store, run_control, runs
from services.background import poller
from services.errors import ServiceError

CHART_POINTS = 1000
FLUSH_EVERY_S = 1.0  # new points reach the charts at most once a second
LOG_LINES = 500


@ui.page('/runs/{run_id}')
async def run_page(run_id: int) -> None:
    user = await session.current_user()
    if user is None:
        return
    try:
        run = await runs.get_run(user, run_id)
    except ServiceError as error:
        not_found(user, error.message)
        return
    data = await runs.snapshot(run)
    pending: dict[str, list[list[Any]]] = {}
    pending_logs: list[str] = []
    charts: dict[str, MetricChart] = {}

    def show(data: dict[str, Any]) -> None:
        state.update(data)
        badge.set_status(data['status'])
        controls.show(data['status'])
        message.set_text(data.get('status_message') or '')
        progress.set_value(data['progress'])
        steps = f' · step {data["step"]:,} of {data["total_steps"]:,}' if data.get('total_steps') else ''
        percent.set_text(f'{data["progress"]:.0%}{steps}')
        if 'steps' in data:
            timeline.show(data['steps'])
        tick()

    def tick() -> None:
        """What moves with the clock: the duration, the ETA counting down, the forecast."""
        duration.set_text(format.duration(format.since(state['started_at'], state['ended_at'])))
        eta.set_text(f'ETA {format.duration(state["eta_seconds"])}' if state.get('eta_seconds') is not None else '')
        cost.set_text(f'{format.money(state["cost_usd"])} so far')
        forecast.set_text(f'forecast {format.money(state.get("forecast_cost_usd", state["cost_usd"]))}'
                          + (f' · {state["forecast_note"]}' if state.get('forecast_note') else ''))

    def apply(change: hub.Change) -> None:
        if change.id != run_id:
            return
        if change.kind == 'run':
            show(change.data)
        elif change.kind == 'metrics':
            if change.data.get('truncated'):  # too big for NOTIFY: read what this tab has not seen
                state['catch_up'] = True
                return
            for name, points in change.data['points'].items():
                pending.setdefault(name, []).extend(points)
            pending_logs.extend(change.data.get('logs', []))

    async def flush() -> None:
        if state.pop('catch_up', False):
            await catch_up()
        for name, points in list(pending.items()):
            if name in charts:
                charts[name].append(points)
            else:
                await add_chart(name)
            pending.pop(name)
        if pending_logs:
            for line in pending_logs[-LOG_LINES:]:
                log.push(line)
            pending_logs.clear()
        if state['status'] in {'running', 'provisioning', 'queued', 'stopping'}:
            tick()

    async def catch_up() -> None:
        for metric in await metric_store.metric_names(run_id):
            chart = charts.get(metric['name'])
            if chart is None:
                await add_chart(metric['name'])
            elif chart.hi is None or metric['step'] > chart.hi:
                series = await metric_store.series(run_id, metric['name'], max_points=CHART_POINTS,
                                                   min_step=(chart.hi or -1) + 1)
                chart.append(series['points'])
        for line in await ingest.log_tail(run_id, limit=LOG_LINES):
            log.push(line['line'])

    async def add_chart(name: str) -> None:
        async def fetch(lo: int | None, hi: int | None) -> dict[str, Any]:
            return await metric_store.series(run_id, name, max_points=CHART_POINTS, min_step=lo, max_step=hi)
        with chart_grid:
            charts[name] = MetricChart(name, await fetch(None, None), fetch)
        no_metrics.set_visibility(False)

    async def act(action: str) -> None:
        try:
            result = await run_control.act(user, run_id, action)
        except ServiceError as error:
            ui.notify(error.message, type='negative')
            return
        if action == 'retry':
            ui.navigate.to(f'/runs/{result["id"]}')
        else:
            show(result)
            ui.notify(f'{action.capitalize()} requested', type='positive')

    state: dict[str, Any] = {}
    with frame(data['name'], user, project_id=data['project_id']):
        with ui.row().classes('items-center gap-3'):
            ui.link('Project', f'/projects/{data["project_id"]}').classes('text-grey-7')
            ui.label('/').classes('text-grey-7')
            ui.label(data['name']).classes('text-h5')
            badge = StatusBadge(data['status'])
            ui.label(format.machine(data)).classes('text-grey-7')
            controls = RunControls(act)
        message = ui.label().classes('text-negative')
        outage = poller.status_of(data['provider'], data.get('credential_id'))
        if outage is not None and not outage['ok']:
            ui.label(f'{data["provider"].capitalize()} unreachable since {outage["since"]:%H:%M:%S}: '
                     f'{outage["error"]}').classes('text-warning')
        with ui.row().classes('w-full items-center gap-6'):
            ui.label(f'started {format.timestamp(data["started_at"])}').classes('text-grey-8')
            duration = ui.label().props('title=duration')
            cost = ui.label().classes('text-bold')
            forecast = ui.label().classes('text-grey-8')
            if limits := format.limits(data.get('limits', {})):
                ui.label(f'limits: {limits}').classes('text-grey-8')
        with ui.row().classes('w-full items-center gap-4 no-wrap'):
            progress = ui.linear_progress(show_value=False, size='14px').props('instant-feedback rounded')
            percent = ui.label().classes('whitespace-nowrap')
            eta = ui.label().classes('whitespace-nowrap text-grey-8')
        ui.label('Steps').classes('text-h6')
        timeline = StepTimeline(data['steps'])
        ui.label('Metrics').classes('text-h6')
        no_metrics = ui.label('No metrics yet: they appear here as the run reports them.').classes('text-grey-7')
        chart_grid = ui.grid(columns='repeat(auto-fill, minmax(26rem, 1fr))').classes('w-full gap-4')
        for metric in await metric_store.metric_names(run_id):
            await add_chart(metric['name'])
        with ui.row().classes('w-full gap-4 no-wrap items-start'):
            with ui.column().classes('w-2/3'):
                ui.label('Log').classes('text-h6')
                log = ui.log(max_lines=LOG_LINES).classes('w-full h-64')
            with ui.column().classes('w-1/3'):
                ui.label('Config').classes('text-h6')
                ui.code(json.dumps(data['config'], indent=2), language='json').classes('w-full')
    for line in await ingest.log_tail(run_id, limit=LOG_LINES):
        log.push(line['line'])
    show(data)
    live.on_change(apply)
    ui.timer(FLUSH_EVERY_S, flush)
