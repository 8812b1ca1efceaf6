"""/settings: the user's API keys (shown once when made, stored hashed, revocable), password, sessions and login
tokens, which events reach them where, and provider credentials."""

from nicegui import ui

import settings
from components import format, session
from components.account_security import account_security
from components.dialogs import confirm
from components.frame import frame
from models import User
from services import artifact_overview, auth, credentials, notifications
from services.errors import ServiceError, Unauthorized


@ui.page('/settings')
async def settings_page() -> None:
    user = await session.current_user()
    if user is None:
        return

    async def refresh() -> None:
        if (actor := await session.current_user()) is None:
            return
        found = await auth.list_tokens(actor, kinds=(auth.TokenKind.KEY,))
        keys.clear()
        with keys:
            if not found:
                ui.label('No API keys yet.').classes('text-grey-7')
            for key in found:
                with ui.row().classes('items-center gap-4'):
                    ui.label(key.name).classes('text-bold')
                    ui.label(f'{key.prefix}…').classes('font-mono text-grey-8')
                    ui.label(f'made {format.local(key.created_at):%Y-%m-%d}').classes('text-caption text-grey-7')
                    ui.label(f'last used {format.timestamp(key.last_used_at)}' if key.last_used_at else 'never used') \
                        .classes('text-caption text-grey-7')
                    ui.button('Revoke', on_click=lambda k=key: revoke(k)).props('flat color=negative dense')

    async def create() -> None:
        if (actor := await session.current_user()) is None:
            return
        try:
            _, token = await auth.issue_token(actor, name=name.value)
        except Unauthorized as error:
            session.refused(error)
            return
        except ServiceError as error:
            hint.set_text(error.message)
            return
        hint.set_text('')
        name.set_value('')
        shown.set_value(token)
        shown_box.visible = True
        await refresh()

    def copy(text: str) -> None:
        ui.clipboard.write(text)
        ui.notify('Key copied to the clipboard', type='positive')

    async def revoke(key: auth.TokenView) -> None:
        if not await confirm(f'Revoke the key "{key.name}"? Scripts using it stop working.', action='Revoke'):
            return
        if (actor := await session.current_user()) is None:
            return
        try:
            await auth.revoke_key(actor, key.id)
        except ServiceError as error:
            session.refused(error)
        await refresh()

    with frame('Settings', user):
        ui.label('API keys').classes('text-h5')
        ui.label('Use a key as "Authorization: Bearer <key>" with the REST API and the SDK.').classes('text-grey-7')
        with ui.row().classes('items-center'):
            name = ui.input('Key name', placeholder='e.g. laptop, CI').on('keydown.enter', create)
            ui.button('Create key', on_click=create)
        hint = ui.label().classes('text-negative')
        with ui.card().classes('w-full bg-amber-1 text-grey-10') as shown_box:
            ui.label('Copy this key now: it is not shown again.').classes('text-bold')
            with ui.row().classes('w-full items-center no-wrap'):
                shown = ui.input('New key').props('readonly').classes('grow min-w-0 font-mono')
                ui.button('Copy', icon='content_copy', on_click=lambda: copy(shown.value)) \
                    .props('outline').mark('copy-key')
        shown_box.visible = False
        keys = ui.column().classes('w-full gap-2')
    await refresh()
    await account_security()
    await _notifications_panel(user)
    await _credentials_panel(user)
    if user.is_admin:
        await _artifacts_panel(user)


async def _notifications_panel(user: User) -> None:
    """Per kind of event, whether it shows in the app (bell and toast) and comes by email, exactly as it will: the
    user's choice, else the default; a default that depends on how an event concerns them (an editor's email for the
    runs they launch, not for others') shows half-checked with a note saying which. Saving stores only what the user
    changed, so saving the page unchanged changes nothing."""
    boxes: dict[str, tuple[ui.checkbox, ui.checkbox]] = {}
    shown: dict[str, notifications.PreferenceView] = {}

    def render(found: list[notifications.PreferenceView]) -> None:
        boxes.clear()
        shown.clear()
        grid.clear()
        with grid:
            ui.label('Event').classes('text-bold')
            ui.label('In app').classes('text-bold justify-self-center')
            ui.label('Email').classes('text-bold justify-self-center')
            for preference in found:
                shown[preference.kind] = preference
                with ui.column().classes('gap-0'):
                    ui.label(preference.label)
                    if preference.note:
                        ui.label(preference.note).classes('text-caption text-grey-7') \
                            .mark(f'note-{preference.kind}')
                when = _when(preference.label)
                in_app = ui.checkbox(value=preference.in_app).classes('justify-self-center') \
                    .mark(f'in-app-{preference.kind}')
                in_app.props['aria-label'] = f'Show in the app {when}'
                email = ui.checkbox(value=preference.email).classes('justify-self-center') \
                    .mark(f'email-{preference.kind}')
                email.props['aria-label'] = f'Email {when}'
                boxes[preference.kind] = (in_app, email)

    async def save() -> None:
        if (actor := await session.current_user()) is None:
            return
        choices = {}
        for kind, (in_app, email) in boxes.items():
            was = shown[kind]
            changed = notifications.Channels(in_app=_changed(was.in_app, in_app.value),
                                             email=_changed(was.email, email.value))
            if changed.in_app is not None or changed.email is not None:
                choices[kind] = changed
        if not choices:
            ui.notify('Nothing changed.')
            return
        try:
            render(await notifications.set_preferences(actor, choices))
        except ServiceError as error:
            session.refused(error)
            return
        ui.notify('Notification choices saved.', type='positive')

    async def reset() -> None:
        if (actor := await session.current_user()) is None:
            return
        render(await notifications.reset_preferences(actor))
        ui.notify('Back to the defaults.', type='positive')

    smtp = settings.current.smtp_host
    with ui.column().classes('w-full max-w-6xl mx-auto px-3 sm:px-4 gap-2').props('id=notifications'):
        ui.label('Notifications').classes('text-h5')
        ui.label(f'Email is set up on this server: it goes to {user.email}.' if smtp else
                 f'Email is not set up on this server (TRAINBOARD_SMTP_HOST), so none is sent; it would go to '
                 f'{user.email}.').classes('text-grey-7').mark('email-setup')
        grid = ui.grid(columns='minmax(0, 1fr) auto auto').classes('items-center gap-x-6 gap-y-1 max-w-3xl')
        with ui.row().classes('items-center gap-2'):
            ui.button('Save notification choices', on_click=save)
            ui.button('Back to the defaults', on_click=reset).props('flat no-caps')
    render(await notifications.preferences(user))


def _when(label: str) -> str:
    """'A run failed' -> 'when a run failed': what a checkbox's accessible name ends with."""
    return f'when {label[:1].lower()}{label[1:]}'


def _changed(was: bool | None, now: object) -> bool | None:
    """The user's new choice for a channel, or None when they left it as shown."""
    now = None if now is None else bool(now)
    return now if now is not None and now != was else None


async def _credentials_panel(user: User) -> None:
    """Each credential with its scope and whether it works; those the user manages can be checked and removed."""
    async def refresh() -> None:
        rows.clear()
        with rows:
            found = await credentials.listed(user)
            if not found:
                ui.label('No credentials yet.').classes('text-grey-7')
            for credential in found:
                with ui.row().classes('items-center gap-4'):
                    ui.label(credential['provider']).classes('text-bold w-20')
                    ui.label(credential['label']).classes('w-40')
                    ui.label(credential['secret']).classes('font-mono text-grey-8')
                    ui.label(credential['scope_label']).classes('text-grey-8')
                    if credential['ok']:
                        ui.label('works').classes('text-positive')
                    else:
                        ui.label(f'failing since {format.timestamp(credential["failing_since"])}: '
                                 f'{credential["error"]}').classes('text-negative')
                    if credential['can_manage']:
                        button = ui.button('Check key').props('flat dense').mark(f'check-key-{credential["id"]}')
                        outcome = ui.label().classes('text-grey-7').mark(f'check-outcome-{credential["id"]}')
                        button.on_click(lambda c=credential, b=button, o=outcome: check(c, b, o))
                        ui.button('Delete', on_click=lambda c=credential: delete(c)).props('flat dense color=negative')

    async def add() -> None:
        s3 = kind.value == credentials.S3  # two fields, stored as one "<access key id>:<secret access key>"
        text = f'{(key_id.value or "").strip()}:{(key_secret.value or "").strip()}' if s3 else secret.value or ''
        try:
            await credentials.add(user, provider=kind.value or '', label=label.value or '', secret=text,
                                  project_id=scope.value or None)
        except ServiceError as error:
            hint.set_text(error.message)
            return
        hint.set_text('')
        for field in (label, secret, key_id, key_secret):
            field.set_value('')  # never shown again
        await refresh()

    async def check(credential: dict, button: ui.button, outcome: ui.label) -> None:
        # said at once: asking the provider can take seconds (a timeout is 4 s and more)
        button.props('loading')
        outcome.set_text('Checking…')
        outcome.classes(replace='text-grey-7')
        try:
            ok, message = await credentials.check(user, credential['id'])
        except ServiceError as error:
            ok, message = False, error.message
        if button.is_deleted:  # the list was redrawn meanwhile
            return
        button.props(remove='loading')
        outcome.set_text('Works' if ok else 'Failed')
        outcome.classes(replace='text-positive' if ok else 'text-negative')
        ui.notify(message, type='positive' if ok else 'negative')

    async def delete(credential: dict) -> None:
        if await confirm(f'Delete the {credential["provider"]} credential "{credential["label"]}"?'):
            try:
                await credentials.delete(user, credential['id'])
            except ServiceError as error:  # e.g. runs still use it
                ui.notify(error.message, type='negative', multi_line=True)
            await refresh()

    def secret_label() -> str:
        return f'{kinds[kind.value].said} API key' if kind.value in kinds else 'API key'

    def show_fields() -> None:
        s3 = kind.value == credentials.S3
        secret.visible = not s3
        key_id.visible = key_secret.visible = s3
        secret.set_label(secret_label())

    scopes = await credentials.scopes(user)
    kinds = credentials.providers()  # the providers a key is for
    choices = {name: caps.label for name, caps in kinds.items()} | {credentials.S3: 'S3 keys'}
    with ui.column().classes('w-full max-w-6xl mx-auto px-3 sm:px-4 gap-2'):
        ui.label('Credentials').classes('text-h5')
        ui.label('Stored encrypted; only the last four characters are ever shown. A workspace key serves every '
                 'project; a project\'s own key serves that project only. S3 keys are for the artifact store (a '
                 'project\'s own before the workspace\'s).').classes('text-grey-7')
        with ui.row().classes('items-center') as form:
            kind = ui.select(choices, label='Kind', value=next(iter(choices), None)).classes('w-40')
            label = ui.input('Label', placeholder='team account')
            secret = ui.input(secret_label(), password=True)  # 'Novita API key'
            key_id = ui.input('Access key ID').props('autocomplete=off')
            key_secret = ui.input('Secret access key', password=True).props('autocomplete=off')
            kind.on_value_change(show_fields)
            show_fields()
            # 0 stands for the workspace: a select's value cannot be None and still be chosen
            options = {key or 0: name for key, name in scopes.items()}
            scope = ui.select(options, label='For', value=next(iter(options), None)).classes('w-56')
            ui.button('Add key', on_click=add)
        form.visible = bool(scopes)
        if not scopes:
            ui.label('Admins add workspace keys; project owners add their project\'s.').classes('text-grey-7')
        hint = ui.label().classes('text-negative')
        rows = ui.column().classes('w-full gap-1')
    await refresh()



async def _artifacts_panel(user: User) -> None:
    """Admins: which store artifacts go to, how it is doing (one sentence when it fails), and a button to try it."""
    async def show(check: bool, *, checking: bool = False) -> None:
        if (actor := await session.current_user()) is None:
            return
        try:
            found = await artifact_overview.overview(actor, check=check)
        except ServiceError as error:
            session.refused(error)
            return
        body.clear()
        with body:
            with ui.grid(columns='auto minmax(0, 1fr)').classes('gap-x-6 gap-y-1 max-w-3xl'):
                for what, value in found.rows:
                    ui.label(what).classes('text-bold')
                    ui.label(value).classes('font-mono text-grey-9 break-all')
            if checking:
                ui.label('Checking the store…').classes('text-grey-7').mark('artifact-store-health')
            elif found.error is None:
                ui.label('The store works.').classes('text-positive').mark('artifact-store-health')
            else:
                ui.label(found.error).classes('text-negative').mark('artifact-store-health')
            if found.overrides:
                ui.label('Projects with a bucket or prefix of their own').classes('text-bold q-mt-sm')
                for own in found.overrides:
                    ui.label(f'{own.project}: bucket {own.bucket}, prefix {own.prefix}').classes('text-grey-8')
                    if own.error:
                        ui.label(own.error).classes('text-negative').mark('artifact-project-store-problem')

    async def check() -> None:
        await show(True)
        ui.notify('Storage checked.')

    with ui.column().classes('w-full max-w-6xl mx-auto px-3 sm:px-4 gap-2').props('id=artifacts'):
        ui.label('Artifacts').classes('text-h5')
        ui.label('Where runs\' files (checkpoints, models, kept logs) are stored: TRAINBOARD_ARTIFACT_STORE and the '
                 'TRAINBOARD_S3_* settings; S3 keys from an "S3 keys" credential above, else boto3\'s usual chain.') \
            .classes('text-grey-7')
        body = ui.column().classes('w-full gap-1')
        ui.button('Check storage', on_click=check).classes('self-start')
    await show(False, checking=True)
    # tried once the page is in the browser: an endpoint that does not answer must not hold the page up
    ui.timer(0.1, lambda: show(True), once=True)
