from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.budget_bar import BudgetBar
from components.status_badge import StatusBadge

Action = Callable[['ProjectCard'], Awaitable[None]]
# in the overrides layer: Quasar's `.block { display: block !important }` is in a later one, which an unlayered
# !important rule does not beat
CARD_CSS = ('@layer overrides { @media (max-width: 599px) { '
            '.tb-card-action .q-btn__content > .block { display: none !important; } } }')


class ProjectCard(ui.card):
    """One project on /projects: name, status, budget bar, run counts, and its actions. `show` patches it in place."""

    def __init__(self, data: dict[str, Any], *, on_edit: Action, on_archive: Action, on_delete: Action) -> None:
        super().__init__()
        self.data = data
        self.classes('w-full').style('contain: content')  # a change inside one card re-lays out only that card
        with self:
            with ui.row().classes('w-full items-start justify-between no-wrap'):
                # the name wraps and the actions keep their row: on a phone they stacked up one per line
                with ui.row().classes('items-center gap-x-3 gap-y-0 min-w-0'):
                    self.name = ui.link(data['name'], f'/projects/{data["id"]}') \
                        .classes('text-h6 no-underline break-words min-w-0')
                    self.badge = StatusBadge(data['status'])
                with ui.row().classes('gap-1 no-wrap shrink-0 items-center'):
                    # `title` rather than ui.tooltip: every element costs each tab a little on every update
                    ui.button(icon='edit', on_click=lambda: on_edit(self)).props('flat round dense title=Edit') \
                        .mark('edit-project')
                    # an icon alone on a phone (CARD_CSS), where its word squeezed the name into a narrow column
                    self.archive_button = ui.button(on_click=lambda: on_archive(self)).props('flat dense') \
                        .classes('tb-card-action')
                    ui.button(icon='delete', on_click=lambda: on_delete(self)) \
                        .props('flat round dense color=negative title=Delete').mark('delete-project')
            self.description = ui.label().classes('text-grey-8')
            self.budget = BudgetBar(data['used_usd'], data['budget_usd'])
            self.runs = ui.label().classes('text-caption text-grey-7')
        self.show(data)

    def show(self, data: dict[str, Any]) -> None:
        """Patch only what changed: each touched element is one more update sent to this tab."""
        before, self.data = getattr(self, '_shown', {}), data
        self._shown = data

        def changed(*keys: str) -> bool:
            return any(before.get(key) != data[key] for key in keys)

        if changed('name'):
            self.name.set_text(data['name'])
        if changed('status'):
            self.badge.set_status(data['status'])
            archived = data['status'] == 'archived'
            self.archive_button.set_text('Restore' if archived else 'Archive')
            self.archive_button.props(f'icon={"unarchive" if archived else "archive"} '
                                      f'title={"Restore" if archived else "Archive"}')
        if changed('description'):
            self.description.set_text(data['description'] or 'No description')
        if changed('used_usd', 'budget_usd'):
            self.budget.set_amounts(data['used_usd'], data['budget_usd'])
        if changed('run_counts'):
            self.runs.set_text(run_summary(data['run_counts']))

def run_summary(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return 'No runs yet'
    parts = [f'{n} {status}' for status, n in sorted(counts.items(), key=lambda item: -item[1])]
    return f'{total} run{"s" if total != 1 else ""}: ' + ', '.join(parts)
