"""Metric charts laid out as people look for them: a section per prefix (train/, val/, eval/, test/, others by name,
metrics without one, then system/), each section's charts by name, the same order live as after a reload; and the
toolbar that sets how every chart of the page draws. The run page and the comparison share them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.chart_options import X_AXES, ChartView
from components.metric_chart import MetricChart

GROUP_ORDER = ['train', 'val', 'eval', 'test']  # then other prefixes by name, then metrics without one, then system
SYSTEM, OTHER = 'system', ''


def group_of(name: str) -> str:
    prefix, slash, _ = name.partition('/')
    return prefix if slash and prefix else OTHER


def group_key(group: str) -> tuple[int, str]:
    if group in GROUP_ORDER:
        return 0, f'{GROUP_ORDER.index(group):02}'
    return (3, '') if group == SYSTEM else (2, '') if group == OTHER else (1, group)


class ChartGrid(ui.column):
    """Charts in their sections, each with a button that takes it across the whole width."""

    def __init__(self) -> None:
        super().__init__()
        self.classes('w-full gap-2 min-w-0')
        self.groups: dict[str, ui.grid] = {}
        self.names: list[str] = []

    def place(self, name: str, build: Callable[[], MetricChart]) -> MetricChart:
        """The chart `build` makes, put in its place among the others."""
        grid = self._grid(group_of(name))
        with grid, ui.element('div').classes('relative min-w-0') as cell:
            chart = build()
            ui.button(icon='open_in_full', on_click=lambda: _expand(cell, chart)) \
                .props('flat round dense size=sm color=grey-7').classes('absolute top-0 right-0') \
                .mark('expand').tooltip('Full width')
        self.names.append(name)
        names = sorted(n for n in self.names if group_of(n) == group_of(name))
        cell.move(grid, target_index=names.index(name))
        return chart

    def _grid(self, group: str) -> ui.grid:
        if group in self.groups:
            return self.groups[group]
        order = sorted([*self.groups, group], key=group_key)
        with self, ui.column().classes('w-full gap-1 min-w-0') as section:
            ui.label(f'{group}/' if group else 'Other').classes('text-subtitle2 text-grey-8')
            # min(): a chart is never wider than a phone's screen
            self.groups[group] = ui.grid(columns='repeat(auto-fill, minmax(min(30rem, 100%), 1fr))') \
                .classes('w-full gap-4')
        section.move(self, target_index=order.index(group))
        return self.groups[group]


def chart_toolbar(view: ChartView, set_view: Callable[..., Any],
                  x_changed: Callable[[str], Awaitable[None]] | None = None) -> ui.row:
    """Smoothing, log scale, outliers (and the x-axis, where `x_changed` is given) for every chart of the page."""
    with ui.row().classes('w-full items-center gap-x-6 gap-y-1') as row:
        with ui.row().classes('items-center gap-2 no-wrap'):
            ui.label('Smoothing').classes('text-caption text-grey-8')
            smoothing = ui.slider(min=0, max=0.99, step=0.01, value=view.smoothing).props('label dense') \
                .classes('w-36')
            smoothing.on('change', lambda: set_view(smoothing=float(smoothing.value)))
        ui.switch('Log scale', value=view.log, on_change=lambda e: set_view(log=bool(e.value))).props('dense')
        ui.switch('Ignore outliers', value=view.clip, on_change=lambda e: set_view(clip=bool(e.value))) \
            .props('dense').tooltip('Leave single spikes out of the y-range so the rest of the curve stays readable')
        if x_changed is not None:
            ui.toggle(X_AXES, value=view.x, on_change=lambda e: x_changed(e.value)) \
                .props('dense no-caps unelevated outline padding="2px 10px"').classes('text-body2')
        ui.label('Drag across a chart to zoom, double-click to zoom out').classes('text-caption text-grey-6')
    return row


def _expand(cell: ui.element, chart: MetricChart) -> None:
    """One chart across the whole width, taller; again to put it back."""
    wide = 'col-span-full' in cell.classes
    cell.classes(remove='col-span-full' if wide else None, add=None if wide else 'col-span-full')
    chart.classes(remove='h-96' if wide else 'h-64', add='h-64' if wide else 'h-96')
