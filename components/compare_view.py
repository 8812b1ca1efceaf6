"""A comparison of runs as /compare shows it, live: the runs and their colours, every metric overlaid, the config
keys that differ, and parallel coordinates of those keys against a metric.

Changes say what changed: the view draws the points that metric changes carry, re-reads the summaries after them,
and rebuilds the page when a run it shows is renamed, deleted or may no longer be seen.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from nicegui import ui

from components import reads
from components.compare_charts import CompareCharts
from components.config_diff import ConfigDiff
from components.live import Rereads
from components.parallel_view import ParallelView
from components.status_badge import StatusBadge
from models import User
from services import comparison, hub
from services.comparison import Comparison
from services.errors import ServiceError

# 20 colours that stay apart on white (Tableau 10, then its lighter or darker partners); a run keeps its place in
# the link, so it has the same colour in every chart, the parallel view, and a teammate's tab
PALETTE = ('#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f',
           '#7f7f7f', '#1f3a93', '#a0522d', '#2ca02c', '#d62728', '#17becf', '#bcbd22', '#8c564b', '#e377c2',
           '#393b79', '#637939')


def colours_of(compared: Comparison) -> dict[int, str]:
    return {run.id: PALETTE[index % len(PALETTE)] for index, run in enumerate(compared.runs)}


def title_of(count: int) -> str:
    return f'{count:,} run{"" if count == 1 else "s"}'


class CompareView(ui.column):
    def __init__(self, user: User, compared: Comparison, link: str) -> None:
        super().__init__()
        self.user, self.compared, self.link = user, compared, link
        self.colours = colours_of(compared)
        self.run_reads = Rereads(partial(reads.read_run_row, user), self._show_run, shared_by=('run row', user.id))
        self.classes('w-full gap-4 min-w-0')
        with self:
            self._header()
            if compared.left_out:
                count = len(compared.left_out)
                shown = ', '.join(compared.left_out[:20]) + (' …' if count > 20 else '')
                ui.label(f'{count} of the link\'s runs {"is" if count == 1 else "are"} left out: not found, or not '
                         f'yours to see ({shown}).').classes('text-warning break-words') \
                    .props('role=status data-testid=left-out')
            self._legend()
            if not compared.runs:
                return
            ui.label('Metrics').classes('text-h6')
            self.charts = CompareCharts(user, compared, self.colours)
            ui.label('Config').classes('text-h6')
            ConfigDiff(compared.runs, compared.config)
            ui.label('Parallel coordinates').classes('text-h6')
            self.parallel = ParallelView(compared, self.colours)

    def _header(self) -> None:
        with ui.row().classes('w-full items-center gap-x-3 gap-y-1'):
            projects = {run.project_id: run.project_name for run in self.compared.runs}
            if len(projects) == 1:
                (project_id, name), = projects.items()
                ui.link(name, f'/projects/{project_id}').classes('text-grey-7 break-all')
                ui.label('/').classes('text-grey-7')
            ui.label(f'Compare {title_of(len(self.compared.runs))}').classes('text-h5')
            if len(projects) > 1:
                ui.label(f'from {len(projects)} projects').classes('text-grey-7')
            ui.space()
            ui.button('Copy link', icon='link', on_click=self.copy_link).props('outline')

    def _legend(self) -> None:
        """Each run: its colour, its name linking to its page, its status (and its project when they differ)."""
        several = len(self.compared.project_ids) > 1
        self.badges: dict[int, StatusBadge] = {}
        with ui.row().classes('w-full gap-x-5 gap-y-2 items-center'):
            for run in self.compared.runs:
                with ui.row().classes('items-center gap-1.5 no-wrap min-w-0 max-w-full'):
                    ui.element('span').classes('inline-block w-3 h-3 rounded-full shrink-0') \
                        .style(f'background: {self.colours[run.id]}')
                    ui.link(run.label, f'/runs/{run.id}').classes('truncate')
                    if several:
                        ui.label(f'· {run.project_name}').classes('text-grey-7 truncate')
                    # a phone shows two runs a row without: twenty runs in ten rows rather than twenty (on a span:
                    # Quasar's own display of a badge wins over the class)
                    with ui.element('span').classes('max-sm:hidden'):
                        self.badges[run.id] = StatusBadge(run.status)

    async def load(self) -> None:
        if self.compared.runs:
            await self.charts.load()

    async def apply(self, change: hub.Change) -> None:
        ids = self.compared.run_ids
        if change.kind == 'metrics' and change.id in ids:
            self.charts.take(change.id, change.data.get('points'))
        elif change.kind == 'run' and change.id in ids:
            await self.run_reads.ask(change.id)
        elif change.kind == 'project' and (change.id in self.compared.project_ids) and not self.user.is_admin:
            await self._check_access()

    async def flush(self) -> None:
        if self.compared.runs and await self.charts.flush():
            try:
                self.parallel.update_summaries(await comparison.summaries(self.user, self.compared.run_ids))
            except ServiceError:  # signed out meanwhile: the next change or action says so
                return

    async def copy_link(self) -> None:
        # the browser knows the address it reached us by; a page served over plain HTTP has no clipboard API
        ui.run_javascript(f'''(() => {{
            const link = location.origin + {json.dumps(self.link)};
            if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(link);
            const area = Object.assign(document.createElement('textarea'), {{value: link}});
            document.body.appendChild(area); area.select(); document.execCommand('copy'); area.remove();
        }})()''')
        ui.notify('Link copied: whoever opens it sees these runs, as far as they may see them.')

    async def _check_access(self) -> None:
        """A member removed from a project (or the project deleted) sees its runs no more: build the page anew."""
        try:
            visible = await comparison.visible_runs(self.user, self.compared.run_ids)
        except ServiceError:
            return
        if len(visible) < len(self.compared.runs):
            ui.navigate.reload()

    def _show_run(self, run_id: int, row: dict[str, Any] | None) -> None:
        if row is None or row['name'] != next(run.name for run in self.compared.runs if run.id == run_id):
            ui.navigate.reload()  # gone or hidden, or renamed: its label is in every chart and column; build anew
        else:
            self.badges[run_id].set_status(row['status'])
