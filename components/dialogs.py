import math
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import Client, ui

import settings
from services import bounds
from services.errors import Invalid, ServiceError


async def confirm(question: str, *, action: str = 'Delete', color: str = 'negative', dismiss: str = 'Cancel') -> bool:
    """Ask a yes/no question in a dialog; True when the user confirms. The two buttons must read differently: an
    action that is itself a cancel ("Cancel run") says what backing out means instead (`dismiss`, e.g. "Keep running").
    """
    if action.casefold() == dismiss.casefold():
        dismiss = 'Back'
    with ui.dialog() as dialog, ui.card().classes('max-w-full'):
        ui.label(question)
        with ui.row().classes('w-full justify-end'):
            ui.button(dismiss, on_click=lambda: dialog.submit(False)).props('flat').mark('dismiss')
            ui.button(action, on_click=lambda: dialog.submit(True)).props(f'color={color}').mark('confirm')
    result = await dialog
    discard(dialog)
    return bool(result)


def percents(text: str) -> list[int]:
    """'50, 80 100' as [50, 80, 100]; a word that is not a whole percent is refused, naming it."""
    found = []
    for word in text.replace(',', ' ').replace('%', ' ').split():
        if not (word.isascii() and word.isdigit()):
            raise Invalid(f'Budget alerts: "{word[:20]}" is not a whole percent; write them like 50, 80, 100.')
        found.append(int(word))
    return found


def number(text: object, what: str, *, unit: str, most: float, zero: bool = False) -> float | None:
    """A number field's text as a number; empty is None (no limit, no budget). A field is a text input, not a number
    input: a browser's number input turns letters into an empty value and clamps a minus to its minimum, both of which
    would read as "no limit" or "no budget" without a word. Here each is refused, naming the field in human words."""
    said = str(text if text is not None else '').strip().removeprefix('$').replace(',', '').strip()
    if not said:
        return None
    floor = '0 or more' if zero else 'above 0'
    try:
        value = float(said)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value == 0 and not zero:
        empty = ', or empty for none' if zero else ', or empty for no limit'
        raise Invalid(f'{what} must be a number of {unit} {floor}{empty}; "{said[:20]}" is not.')
    if value > most:
        raise Invalid(f'{what} must be at most {most:,.0f} {unit}.')
    return value


def discard(dialog: ui.dialog) -> None:
    """Delete a dialog once answered, unless it went already: with the dialog it was asked from, or with its tab
    (closed or navigated away from while the dialog was open; deleting it then fails inside NiceGUI)."""
    if dialog.is_deleted or dialog.client.id not in Client.instances:
        return
    slot = dialog.parent_slot
    if slot is not None and dialog in slot.children:  # already taken out of its slot (and so of its tab's layout)
        dialog.delete()


async def project_form(title: str, save: Callable[[dict[str, Any]], Awaitable[Any]], *,
                       values: dict[str, Any] | None = None, button: str = 'Save', admin: bool = False) -> None:
    """A dialog to create or edit a project; a refused save shows the reason and keeps the dialog open."""
    values = values or {}
    with ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full'):
        ui.label(title).classes('text-h6')
        name = ui.input('Name', value=values.get('name', '')).classes('w-full')
        description = ui.textarea('Description', value=values.get('description', '')).classes('w-full')
        budget = ui.input('Budget (USD)', value=_money_text(values.get('budget_usd') or 0.0)) \
            .props('prefix=$ inputmode=decimal').classes('w-full')
        unlimited = ui.checkbox('Unlimited: paid runs may launch with no budget',
                                value=bool(values.get('budget_unlimited'))).classes('w-full')
        unlimited.visible = admin  # an admin's decision only
        editing = 'id' in values  # an existing project's owners' settings (a new one starts with the defaults)
        alerts = ui.input('Budget alerts (% of the budget)', value=', '.join(map(str, values.get('budget_alerts', []))),
                          placeholder='none').classes('w-full') \
            .tooltip('Its people hear once as its spend passes each of these percents, e.g. 50, 80, 100')
        grace = ui.input('Stop a stalled run after a further … minutes',
                         value=f'{values["stall_grace_s"] / 60:g}' if values.get('stall_grace_s') else '') \
            .props('inputmode=decimal') \
            .classes('w-full').tooltip('For runs with a stall timeout that do not say: once their people are told '
                                       'that they stopped reporting; empty: their stall timeout again')
        alerts.visible = grace.visible = editing
        # where its artifacts go: an admin's choice (the server's keys write there); empty: the server's
        bucket = ui.input('Artifact bucket', value=values.get('artifact_bucket') or '',
                          placeholder=f'{settings.current.s3_bucket or "none set"} (TRAINBOARD_S3_BUCKET)') \
            .classes('w-full').tooltip('The S3 bucket this project\'s artifacts go to; empty: the server\'s')
        prefix = ui.input('Artifact key prefix', value=values.get('artifact_prefix') or '',
                          placeholder=f'{settings.current.s3_prefix or "none"} (TRAINBOARD_S3_PREFIX)') \
            .classes('w-full').tooltip('Keys are <prefix>/<project id>/<run id>/<name>; empty: the server\'s prefix')
        bucket.visible = prefix.visible = editing and admin
        hint = ui.label().classes('text-negative')
        hint.visible = False

        async def submit() -> None:
            changes: dict[str, Any] = {'name': name.value, 'description': description.value}
            if admin and unlimited.value != bool(values.get('budget_unlimited')):
                changes['budget_unlimited'] = unlimited.value
            try:  # a refused number changes nothing: no project made, none saved
                changes['budget_usd'] = number(budget.value, 'The budget', unit='dollars', most=bounds.USD_MAX,
                                               zero=True) or 0.0
                if editing:
                    changes['budget_alerts'] = percents(alerts.value or '')
                    minutes = number(grace.value, 'The stall grace', unit='minutes', most=bounds.INT_MAX / 60)
                    changes['stall_grace_s'] = round(minutes * 60) if minutes else None
                if editing and admin:
                    for setting, field in (('artifact_bucket', bucket), ('artifact_prefix', prefix)):
                        if (field.value or '').strip() != (values.get(setting) or ''):
                            changes[setting] = (field.value or '').strip() or None
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


def _money_text(value: float) -> str:
    """A budget as its field shows it: cents, unless it has finer parts (saving it unchanged must not change it)."""
    return f'{value:.2f}' if round(value, 2) == value else repr(value)
