from typing import Any

from nicegui import ui

from components import format
from components.status_badge import STOP

ICONS = {'pending': ('radio_button_unchecked', 'grey-5'), 'running': ('autorenew', 'primary'),
         'succeeded': ('check_circle', 'positive'), 'failed': ('cancel', 'negative'),
         'stopped': ('stop_circle', STOP), 'skipped': ('redo', 'grey-6')}


class StepTimeline(ui.column):
    """The run's steps in order: status, name, what it is doing, how long it took and what it cost. On a phone the
    description takes a line of its own rather than pushing the row past the screen's edge."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        super().__init__()
        self.classes('w-full max-w-3xl gap-1')  # its figures stay near their names on a wide page
        self.shown: list[dict[str, Any]] | None = None
        self.show(steps)

    def show(self, steps: list[dict[str, Any]]) -> None:
        if steps == self.shown:  # a re-read that changed no step rebuilds nothing
            return
        self.shown = steps
        self.clear()
        with self:
            if not steps:
                ui.label('No steps reported yet.').classes('text-grey-7')
            for step in steps:
                icon, color = ICONS.get(step['status'], ('help', 'grey'))
                with ui.row().classes('w-full items-center gap-x-3 gap-y-0'):
                    status_icon = ui.icon(icon, color=color)
                    status_icon._props['title'] = step['status']  # set, not parsed from a string (see MetricChart)
                    ui.label(step['name']).classes('text-bold w-28 break-words')
                    ui.label(format.duration(step['duration_s'])).classes('w-16 text-right sm:order-last')
                    ui.label(format.money(step['cost_usd'])).classes('w-16 text-right text-grey-7 sm:order-last')
                    ui.label(step['description'] or step['status']) \
                        .classes('text-grey-8 basis-full pl-9 sm:basis-0 sm:grow sm:pl-0 min-w-0 break-words')
