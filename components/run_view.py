"""A run as its page shows it, live: status and why, progress and ETA, cost and forecast, steps, charts, log, config.

Live changes only say that the run changed; the view re-reads the run through the services (`Rereads`). The metric
points a change carries are drawn as they are, or read when a change came without them; the log reads the lines that
came after its newest (components/log_viewer). Times are the viewer's (components/clock), relative with the exact time
on hover.
"""

import json
from functools import partial
from typing import Any

from nicegui import ui

from components import format, reads
from components.artifacts_panel import ArtifactsPanel
from components.live import Rereads
from components.log_viewer import LogViewer
from components.metric_charts import MetricCharts
from components.run_controls import RunControls
from components.status_badge import IN_BETWEEN, STOP, StatusBadge, reason
from components.step_timeline import StepTimeline
from models import User
from services import hub, lifecycle, run_control
from services.background import poller
from services.errors import ServiceError

REASON_ICONS = {'negative': 'error', STOP: 'pan_tool', IN_BETWEEN: 'hourglass_top'}
REASON_COLORS = (*REASON_ICONS, 'grey-8')
# the band takes its text's colour for its edge; on the dark page those colours are lifted so that they still read
# (in the overrides layer: Quasar's colour classes are !important in a later one, which an unlayered rule cannot beat)
REASON_CSS = '''
.tb-reason { border-left: 4px solid currentColor; background: rgba(128, 128, 128, 0.08); }
@layer overrides {
  .body--dark .tb-reason.text-blue-grey-7, .body--dark .tb-reason .text-blue-grey-7 { color: #b0bec5 !important; }
  .body--dark .tb-reason.text-orange-9, .body--dark .tb-reason .text-orange-9 { color: #ffb74d !important; }
  .body--dark .tb-reason.text-negative, .body--dark .tb-reason .text-negative { color: #ff8a80 !important; }
}
'''


class RunView(ui.column):
    """Everything /runs/{id} shows of one run. `apply` takes the hub's changes; `flush` (about once a second) draws
    what they brought and moves the clock."""

    def __init__(self, user: User, data: dict[str, Any], project_name: str, *, may_edit: bool = False) -> None:
        super().__init__()
        self.user, self.run_id, self.project_id = user, data['id'], data['project_id']
        self.data: dict[str, Any] = data
        self.run_reads = Rereads(partial(reads.read_run, user), self._show_read, shared_by=('run', user.id))
        self.project_reads = Rereads(partial(reads.read_project, user), self._show_project,
                                     shared_by=('project', user.id))
        self.classes('w-full gap-4 min-w-0')
        ui.add_css(REASON_CSS)
        with self:
            self._header(data, project_name)
            self._numbers(data)
            ui.label('Steps').classes('text-h6')
            self.timeline = StepTimeline(data['steps'])
            ui.label('Metrics').classes('text-h6')
            self.charts = MetricCharts(self.run_id)
            self.artifacts = ArtifactsPanel(user, self.run_id, may_edit=may_edit)
            with ui.grid().classes('w-full gap-4 grid-cols-1 md:grid-cols-3'):
                with ui.column().classes('min-w-0 md:col-span-2'):
                    self.log = LogViewer(user, self.run_id)
                self.config_column = ui.column().classes('min-w-0')
        self.show(data)

    def _header(self, data: dict[str, Any], project_name: str) -> None:
        with ui.row().classes('w-full items-center gap-x-3 gap-y-1'):
            with ui.row().classes('items-baseline gap-x-2 gap-y-0 min-w-0').mark('breadcrumb'):
                ui.link('Projects', '/projects').classes('text-grey-7')
                ui.label('/').classes('text-grey-6')
                self.project_link = ui.link(project_name, f'/projects/{self.project_id}') \
                    .classes('text-grey-7 break-all')
                ui.label('/').classes('text-grey-6')
                ui.label(data['name']).classes('text-h5 break-all')
            self.badge = StatusBadge(data['status'])
            ui.label(format.machine(data)).classes('text-grey-7')
            self.controls = RunControls(self.act, retry=lambda: run_control.retry(self.user, self.run_id))
        # why it stopped or failed, or what it waits for: a band across the page, where it is read first
        with ui.row().classes('tb-reason w-full items-center no-wrap gap-2 q-px-md q-py-sm rounded-borders') \
                as self.reason_box:
            self.reason_icon = ui.icon('info', size='sm')
            self.reason = ui.label().classes('break-words min-w-0')
        self.labels = ui.row().classes('w-full items-center gap-x-2 gap-y-1').mark('run-labels')
        self.shown_labels: tuple[tuple[str, ...], str] | None = None
        outage = poller.status_of(data['provider'], data.get('credential_id'))
        if outage is not None and not outage['ok']:
            since = format.timestamp(outage['since'], seconds=True)
            ui.label(f'{data["provider"].capitalize()} unreachable since {since}: {outage["error"]}') \
                .classes('text-warning break-words')

    def _numbers(self, data: dict[str, Any]) -> None:
        with ui.row().classes('w-full items-center gap-x-6 gap-y-1'):
            self.started = ui.label().classes('text-grey-8')
            self.duration = ui.label().props('title=duration')
            self.cost = ui.label().classes('text-bold')
            self.forecast = ui.label().classes('text-grey-8')
            if limits := format.limits(data.get('limits', {})):
                ui.label(f'limits: {limits}').classes('text-grey-8')
        with ui.row().classes('w-full items-center gap-4 no-wrap'):
            self.progress = ui.linear_progress(show_value=False, size='14px').props('instant-feedback rounded')
            self.percent = ui.label().classes('whitespace-nowrap')
            self.eta = ui.label().classes('whitespace-nowrap text-grey-8')

    async def load(self) -> None:
        """What the page reads once it is built: the charts, the log's newest lines, the artifacts."""
        await self.charts.load()
        with self.config_column:  # after the charts: its copy button's timer has the page sent as it stands
            if self.data.get('command'):  # what a launched run runs, its environment's values masked
                ui.label('Command').classes('text-h6')
                launched = ' '.join(f'{name}={value}' for name, value in self.data.get('envs', {}).items())
                ui.code('\n'.join(filter(None, [self.data.get('image', ''), launched, self.data['command']])),
                        language='bash').classes('w-full max-h-64 overflow-auto')
            ui.label('Config').classes('text-h6')
            ui.code(json.dumps(self.data['config'], indent=2), language='json').classes('w-full max-h-96 overflow-auto')
        await self.log.reload()
        await self.artifacts.load()

    def show(self, data: dict[str, Any]) -> None:
        self.data = data
        self.badge.set_status(data['status'])
        self.controls.show(data['status'], pausable=data.get('pausable', True))
        text, color = reason(data)
        self.reason.set_text(text)
        self.reason.classes(replace=f'break-words min-w-0 text-{color}')
        self.reason_box.classes(remove=' '.join(f'text-{c}' for c in REASON_COLORS), add=f'text-{color}')
        self.reason_icon.props(f'name={REASON_ICONS.get(color, "info")}')
        self.reason_box.set_visibility(bool(text))
        self._show_labels(tuple(data.get('tags') or ()), data.get('note') or '')
        self.progress.set_value(data['progress'])
        steps = f' · step {data["step"]:,} of {data["total_steps"]:,}' if data.get('total_steps') else ''
        self.percent.set_text(f'{data["progress"]:.0%}{steps}')
        self.started._props['title'] = format.absolute(data['started_at']) if data['started_at'] else ''
        if 'steps' in data:
            self.timeline.show(data['steps'])
        self.tick()

    def _show_labels(self, tags: tuple[str, ...], note: str) -> None:
        """The team's tags and note on the run, as the runs table has them (edited there)."""
        if (tags, note) == self.shown_labels:
            return
        self.shown_labels = tags, note
        self.labels.clear()
        with self.labels:
            for tag in tags:
                ui.chip(tag).props('dense size=sm color=blue-1 text-color=primary').classes('q-ma-none')
            if note:
                ui.label(note).classes('text-grey-8 italic break-words min-w-0')
        self.labels.set_visibility(bool(tags or note))

    def tick(self) -> None:
        """What moves with the clock: the duration, the ETA counting down, the forecast."""
        data = self.data
        self.started.set_text(_started(data))
        self.duration.set_text(format.duration(format.since(data['started_at'], data['ended_at'])))
        self.duration.set_visibility(data['started_at'] is not None)  # no lone '—' beside 'not started yet'
        counting = data['status'] == 'running' and data.get('eta_seconds') is not None  # not while it waits
        self.eta.set_text(f'ETA {format.duration(data["eta_seconds"])}' if counting else '')
        ended = data.get('ended_at') is not None
        self.cost.set_text(f'{format.money(data["cost_usd"])}' + ('' if ended else ' so far'))
        note = f' · {data["forecast_note"]}' if data.get('forecast_note') else ''
        # a finished run's cost is what it cost: no forecast
        self.forecast.set_text('' if ended else
                               f'forecast {format.money(data.get("forecast_cost_usd", data["cost_usd"]))}{note}')

    async def apply(self, change: hub.Change) -> None:
        if change.kind == 'metrics' and change.id == self.run_id:
            self.charts.take(change.data.get('points'))
            if change.data.get('logs') != []:  # lines came (or the change does not say): read what follows
                self.log.take()
        elif change.kind == 'run' and change.id == self.run_id:
            await self.run_reads.ask(self.run_id)
        elif change.kind == 'artifact':
            await self.artifacts.apply(change)
        elif change.kind == 'project' and change.id == self.project_id and change.action != 'deleted':
            await self.project_reads.ask(self.project_id)

    async def flush(self) -> None:
        await self.charts.flush()
        await self.log.flush()
        if not lifecycle.is_finished(self.data['status']):
            self.tick()
        else:  # "started 3 min ago" still moves on
            self.started.set_text(_started(self.data))

    async def act(self, action: str) -> None:
        try:
            result = await run_control.act(self.user, self.run_id, action)
        except ServiceError as error:
            ui.notify(error.message, type='negative')
            return
        self.show(result)
        ui.notify(f'{action.capitalize()} requested', type='positive')

    def _show_read(self, _run_id: int, data: dict[str, Any] | None) -> None:
        if data is not None:  # else gone, or no longer this user's to see: the frame follows access changes
            self.show(data)

    def _show_project(self, _project_id: int, data: dict[str, Any] | None) -> None:
        if data is not None:
            self.project_link.set_text(data['name'])


def _started(data: dict[str, Any]) -> str:
    """When it started, relative so that it moves on ('started 3 min ago'); or that it has not, or never did."""
    if data['started_at'] is not None:
        return f'started {format.relative(data["started_at"])}'
    return 'never started' if data.get('ended_at') is not None else 'not started yet'
