from typing import Any

from nicegui import ui

from components import format

ICONS = {'pending': ('radio_button_unchecked', 'grey-5'), 'running': ('autorenew', 'primary'),
         'succeeded': ('check_circle', 'positive'), 'failed': ('cancel', 'negative'), 'skipped': ('redo', 'grey-6')}


class StepTimeline(ui.column):
    """The run's steps in order: status, name, what it is doing, how long it took and what it cost."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        super().__init__()
        self.classes('w-full gap-1')
        self.show(steps)

    def show(self, steps: list[dict[str, Any]]) -> None:
        self.clear()
        with self:
            if not steps:
                ui.label('No steps reported yet.').classes('text-grey-7')
            for step in steps:
                icon, color = ICONS.get(step['status'], ('help', 'grey'))
                with ui.row().classes('items-center gap-3 no-wrap'):
                    status_icon = ui.icon(icon, color=color)
                    status_icon._props['title'] = step['status']  # set, not parsed from a string (see MetricChart)
                    ui.label(step['name']).classes('text-bold w-28')
                    ui.label(step['description'] or step['status']).classes('text-grey-8 w-64')
                    ui.label(format.duration(step['duration_s'])).classes('w-20 text-right')
                    ui.label(format.money(step['cost_usd'])).classes('w-20 text-right text-grey-7')
