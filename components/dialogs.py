from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import Client, ui

from services.errors import ServiceError


async def confirm(question: str, *, action: str = 'Delete', color: str = 'negative') -> bool:
    """Ask a yes/no question in a dialog; True when the user confirms."""
    with ui.dialog() as dialog, ui.card():
        ui.label(question)
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('flat').mark('dismiss')
            ui.button(action, on_click=lambda: dialog.submit(True)).props(f'color={color}').mark('confirm')
    result = await dialog
    discard(dialog)
    return bool(result)


def discard(dialog: ui.dialog) -> None:
    """Delete a dialog once answered, unless it went already: with the dialog it was asked from, or with its tab
    (closed or navigated away from while the dialog was open; deleting it then fails inside NiceGUI)."""
    if not dialog.is_deleted and dialog.client.id in Client.instances:
        dialog.delete()


async def project_form(title: str, save: Callable[[dict[str, Any]], Awaitable[Any]], *,
                       values: dict[str, Any] | None = None, button: str = 'Save', admin: bool = False) -> None:
    """A dialog to create or edit a project; a refused save shows the reason and keeps the dialog open."""
    values = values or {}
    with ui.dialog() as dialog, ui.card().classes('w-[28rem]'):
        ui.label(title).classes('text-h6')
        name = ui.input('Name', value=values.get('name', '')).classes('w-full')
        description = ui.textarea('Description', value=values.get('description', '')).classes('w-full')
        budget = ui.number('Budget (USD)', value=values.get('budget_usd', 0.0), min=0, format='%.2f',
                           prefix='$').classes('w-full')
        unlimited = ui.checkbox('Unlimited: paid runs may launch with no budget',
                                value=bool(values.get('budget_unlimited'))).classes('w-full')
        unlimited.visible = admin  # an admin's decision only
        hint = ui.label().classes('text-negative')
        hint.visible = False

        async def submit() -> None:
            changes = {'name': name.value, 'description': description.value, 'budget_usd': budget.value}
            if admin and unlimited.value != bool(values.get('budget_unlimited')):
                changes['budget_unlimited'] = unlimited.value
            try:
                await save(changes)
            except ServiceError as error:
                hint.set_text(error.message)
                hint.visible = True
                return
            dialog.submit(True)

        name.on('keydown.enter', submit)
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat')
            ui.button(button, on_click=submit)
    await dialog
    discard(dialog)
