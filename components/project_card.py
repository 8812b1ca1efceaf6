from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.budget_bar import BudgetBar
from components.status_badge import StatusBadge

Action = Callable[['ProjectCard'], Awaitable[None]]


class ProjectCard(ui.card):
    """One project on /projects: name, status, budget bar, run counts, and its actions. `show` patches it in place."""

    def __init__(self, data: dict[str, Any], *, on_edit: Action, on_archive: Action, on_delete: Action) -> None:
        super().__init__()
        self.data = data
        self.classes('w-full')
        with self:
            with ui.row().classes('w-full items-center justify-between no-wrap'):
                with ui.row().classes('items-center gap-3'):
                    self.name = ui.link(data['name'], f'/projects/{data["id"]}').classes('text-h6 no-underline')
                    self.badge = StatusBadge(data['status'])
                with ui.row().classes('gap-1'):
                    ui.button(icon='edit', on_click=lambda: on_edit(self)).props('flat round dense') \
                        .mark('edit-project').tooltip('Edit')
                    self.archive_button = ui.button(on_click=lambda: on_archive(self)).props('flat dense')
                    ui.button(icon='delete', on_click=lambda: on_delete(self)).props('flat round dense color=negative') \
                        .mark('delete-project').tooltip('Delete')
            self.description = ui.label().classes('text-grey-8')
            self.budget = BudgetBar(data['used_usd'], data['budget_usd'])
            self.runs = ui.label().classes('text-caption text-grey-7')
        self.show(data)

    def show(self, data: dict[str, Any]) -> None:
        self.data = data
        self.name.set_text(data['name'])
        self.badge.set_status(data['status'])
        self.description.set_text(data['description'] or 'No description')
        self.budget.set_amounts(data['used_usd'], data['budget_usd'])
        self.runs.set_text(run_summary(data['run_counts']))
        self.archive_button.set_text('Restore' if data['status'] == 'archived' else 'Archive')


def run_summary(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return 'No runs yet'
    parts = [f'{n} {status}' for status, n in sorted(counts.items(), key=lambda item: -item[1])]
    return f'{total} run{"s" if total != 1 else ""}: ' + ', '.join(parts)
