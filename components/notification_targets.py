"""A project's Slack and webhook targets and its deliveries, for its owners: add (a webhook's secret shown once),
turn off, remove, and how each delivery went, kept live by the hub (events, deliveries and targets changing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nicegui import ui

from components import format, live
from components.dialogs import confirm, discard
from models import User
from services import hub, notifications
from services import notification_targets as targets
from services.errors import ServiceError

DELIVERY_COLUMNS = [
    {'name': 'when', 'label': 'Last attempt', 'field': 'when', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'shown_status', 'align': 'left'},
    {'name': 'to', 'label': 'To', 'field': 'to', 'align': 'left', 'classes': 'tb-address'},
    {'name': 'message', 'label': 'Event', 'field': 'message', 'align': 'left', 'classes': 'max-w-xs'},
    {'name': 'attempts', 'label': 'Attempts', 'field': 'attempts', 'align': 'right'},
    {'name': 'error', 'label': 'Error', 'field': 'error', 'align': 'left'},
]
_STATUS_COLOR = "{pending: 'orange', delivered: 'positive', failed: 'negative'}"
_FIELDS = {'url', 'label', 'kinds', 'kind'}


@dataclass(frozen=True, slots=True)
class _Shown:
    targets: list[targets.TargetView]
    deliveries: list[targets.DeliveryView]


async def notification_targets_panel(user: User, project_id: int) -> None:
    """The panel; call it for the project's owners only (the services refuse anyone else anyway)."""
    async def fetch(_: int) -> _Shown | None:
        try:
            return _Shown(await targets.listed(user, project_id), await targets.deliveries(user, project_id))
        except ServiceError:  # no longer an owner, or the project went
            return None

    def show(_: int, shown: _Shown | None) -> None:
        if shown is None:
            panel.visible = False
            return
        _show_targets(target_rows, shown.targets, user, project_id, refresh)
        table.rows = [_delivery_row(d) for d in shown.deliveries]
        no_deliveries.visible = not shown.deliveries

    rereads = live.Rereads(fetch, show, shared_by=('notification targets', user.id))

    async def refresh() -> None:
        await rereads.ask(project_id)

    async def apply(change: hub.Change) -> None:
        # 'notification': an event of the project, with its deliveries queued; 'delivery': one was tried
        if change.project_id == project_id and change.kind in {'notification', 'delivery', 'notification_target'}:
            await refresh()

    with ui.expansion('Notifications out of the app', icon='campaign').classes('w-full') \
            .mark('notification-targets') as panel:
        ui.label("Slack channels and webhooks that hear of this project's events. Each person chooses their own "
                 'email in Settings.').classes('text-grey-8')
        target_rows = ui.column().classes('w-full gap-1')
        with ui.row().classes('gap-2'):
            ui.button('Add Slack', icon='tag', on_click=lambda: _add_dialog(user, project_id, 'slack', refresh)) \
                .props('outline')
            ui.button('Add webhook', icon='webhook',
                      on_click=lambda: _add_dialog(user, project_id, 'webhook', refresh)).props('outline')
        ui.label('Deliveries').classes('text-subtitle1 q-mt-md')
        table = ui.table(columns=DELIVERY_COLUMNS, rows=[], row_key='id', pagination=10) \
            .props('flat dense wrap-cells :grid="window.innerWidth < 600"').classes('w-full').mark('deliveries')
        # a phone: one card per delivery (grid) instead of columns too narrow to read; an address breaks only after
        # a slash (tb-address), never inside its host, and a delivered one shows no empty error
        table.add_slot('body-cell-status', f'''
            <q-td :props="props">
                <q-badge :color="{_STATUS_COLOR}[props.row.status]" :label="props.value" />
            </q-td>''')
        table.add_slot('item', f'''
            <div class="q-pa-xs col-12">
              <q-card flat bordered class="q-pa-sm">
                <div class="row items-center q-gutter-x-sm">
                  <q-badge :color="{_STATUS_COLOR}[props.row.status]" :label="props.row.shown_status" />
                  <span class="text-caption text-grey-8">{{{{ props.row.when }}}}</span>
                </div>
                <div class="text-body2 tb-address">{{{{ props.row.to }}}}</div>
                <div class="text-body2">{{{{ props.row.message }}}}</div>
                <div class="text-caption text-grey-8">Attempts: {{{{ props.row.attempts }}}}</div>
                <div v-if="props.row.error" class="text-caption text-negative">Error: {{{{ props.row.error }}}}</div>
              </q-card>
            </div>''')
        ui.add_css('.tb-address { word-break: normal; overflow-wrap: break-word; }')
        no_deliveries = ui.label('Nothing sent yet: events of this project are delivered here as they happen.') \
            .classes('text-grey-7')
    await refresh()
    live.on_change(apply)


def _show_targets(box: ui.column, found: list[targets.TargetView], user: User, project_id: int, refresh) -> None:
    box.clear()
    with box:
        if not found:
            ui.label('No Slack channel or webhook yet.').classes('text-grey-7')
        for target in found:
            with ui.row().classes('w-full items-center no-wrap gap-2').mark(f'target-{target.id}'):
                # what it is wraps on a phone; its switch and delete button stay on the right
                with ui.row().classes('items-center gap-x-3 gap-y-0 grow min-w-0'):
                    ui.badge(target.kind).props('outline')
                    ui.label(target.label).classes('font-medium break-all')
                    ui.label(_breakable(target.url_hint)).classes('text-grey-7 font-mono text-sm tb-address')
                    ui.label(', '.join(target.kinds) if target.kinds else 'every event') \
                        .classes('text-grey-8 text-sm')
                switch = ui.switch('On' if target.enabled else 'Off', value=target.enabled,
                                   on_change=lambda e, t=target: _set_enabled(user, project_id, t, e.value, refresh))
                switch.mark(f'target-switch-{target.id}').props['aria-label'] = f'Deliver to {target.label}'
                ui.button(icon='delete', on_click=lambda t=target: _delete(user, project_id, t, refresh)) \
                    .props('flat dense round').tooltip('Remove').mark('remove-target')


async def _set_enabled(user: User, project_id: int, target: targets.TargetView, enabled: bool, refresh) -> None:
    if enabled == target.enabled:
        return
    try:
        await targets.set_enabled(user, project_id, target.id, enabled)
    except ServiceError as error:
        ui.notify(error.message, type='negative')
    else:
        ui.notify(f'"{target.label}" is on: events go to it again.' if enabled else
                  f'"{target.label}" is off: nothing goes to it until it is on again.',
                  type='positive' if enabled else 'info')
    await refresh()


async def _delete(user: User, project_id: int, target: targets.TargetView, refresh) -> None:
    if not await confirm(f'Remove the {target.kind} target "{target.label}"? Its deliveries go with it.',
                         action='Remove'):
        return
    try:
        await targets.delete(user, project_id, target.id)
    except ServiceError as error:
        ui.notify(error.message, type='negative')
    else:
        ui.notify(f'Removed "{target.label}"', type='positive')
    await refresh()


async def _add_dialog(user: User, project_id: int, kind: str, refresh) -> None:
    """Ask for the URL, label and kinds; a webhook's secret is then shown, once, in the same dialog."""
    slack = kind == 'slack'
    with ui.dialog().props('persistent') as dialog, ui.card().classes('w-[34rem] max-w-full'):
        ui.label('Add a Slack channel' if slack else 'Add a webhook').classes('text-h6')
        with ui.column().classes('w-full') as form:
            url = ui.input('Slack incoming webhook URL' if slack else 'URL (https://...)',
                           placeholder='https://hooks.slack.com/services/...' if slack else 'https://').classes('w-full')
            label = ui.input('Label', placeholder='#ml-alerts' if slack else 'ops pager').classes('w-full')
            kinds = ui.select(dict(notifications.KINDS), multiple=True, value=[],
                              label='Events (none chosen: every event)').props('use-chips').classes('w-full')
            hint = ui.label().classes('text-negative').mark('target-hint')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: dialog.submit(None)).props('flat')
                ui.button('Add', on_click=lambda: add()).mark('add-target')
        with ui.column().classes('w-full') as shown_once:
            ui.label('The signing secret is shown once: copy it now, it cannot be shown again. Your receiver checks '
                     'X-Trainboard-Signature with it (README: "Notifications out of the app").').classes('text-grey-8')
            secret = ui.input('Signing secret').props('readonly outlined').classes('w-full font-mono') \
                .mark('target-secret')
            with ui.row().classes('w-full justify-end'):
                ui.button('Copy', icon='content_copy', on_click=lambda: _copy(secret.value)).props('flat')
                ui.button('Done', on_click=lambda: dialog.submit(None)).mark('target-secret-done')
        shown_once.visible = False

        async def add() -> None:
            try:
                added = await targets.add(user, project_id, kind=kind, url=url.value or '', label=label.value or '',
                                          kinds=list(kinds.value or []))
            except ServiceError as error:
                hint.set_text(_without_field(error.message))
                return
            await refresh()
            if added.secret is None:
                ui.notify(f'Added "{added.target.label}"', type='positive')
                dialog.submit(None)
                return
            secret.set_value(added.secret)
            form.visible = False
            shown_once.visible = True

    await dialog
    discard(dialog)


def _copy(text: str) -> None:
    ui.clipboard.write(text)
    ui.notify('Copied')


def _delivery_row(delivery: targets.DeliveryView) -> dict[str, object]:
    return {'id': delivery.id, 'when': _when(delivery.last_attempt_at or delivery.created_at),
            'status': delivery.status, 'shown_status': status_said(delivery),
            'to': _breakable(f'{delivery.channel}: {delivery.target}'), 'message': delivery.message,
            'attempts': delivery.attempts, 'error': delivery.last_error or ''}


def status_said(delivery: targets.DeliveryView) -> str:
    """'delivered', 'failed', 'pending' (not tried yet) or 'retrying (attempt 3, next at 01:24:10 UTC)'."""
    if delivery.status != 'pending' or not delivery.attempts:
        return delivery.status
    at = f', next at {format.clock_time(delivery.next_attempt_at, zone=True)}' if delivery.next_attempt_at else ''
    return f'retrying (attempt {delivery.attempts + 1}{at})'


def _breakable(address: str) -> str:
    """An address that may wrap after a slash only (a zero-width space there), never inside its host."""
    return address.replace('/', '/\u200b')


def _without_field(message: str) -> str:
    """A service names the field it refuses as the API does ('url: Give the URL...'): the dialog shows the message
    under its fields, so without that name."""
    field, colon, rest = message.partition(': ')
    return rest[:1].upper() + rest[1:] if colon and field in _FIELDS else message


def _when(at: datetime | None) -> str:
    return format.timestamp(at)
