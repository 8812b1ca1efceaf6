"""The account part of /settings: change your password, and see and end your browser sessions and login tokens."""

from __future__ import annotations

from nicegui import ui

from components import format, session
from components.dialogs import confirm
from services import auth
from services.auth import TokenKind, TokenView
from services.errors import ServiceError, Unauthorized

KIND_LABELS = {TokenKind.SESSION: 'Browser', TokenKind.LOGIN: 'Login token'}


async def account_security() -> None:
    """Both sections, for whoever is signed in on this tab; each action asks again who that is."""
    with ui.column().classes('w-full max-w-6xl mx-auto px-3 sm:px-4 gap-2'):
        _password_section()
        await _sessions_section()


def _password_section() -> None:
    async def change() -> None:
        this_tab = await session.current_session()
        if this_tab is None:
            await session.current_user()  # says why and goes to /login
            return
        if new.value != repeated.value:
            hint.set_text('The new passwords do not match.')
            return
        try:
            await auth.change_password(this_tab.user, current.value or '', new.value or '',
                                       address=session.client_address(), keep_token_id=this_tab.token_id)
        except Unauthorized as error:
            session.refused(error)
            return
        except ServiceError as error:
            hint.set_text(error.message)
            return
        hint.set_text('')
        for field in (current, new, repeated):
            field.set_value('')
        ui.notify('Password changed: your other browsers and login tokens are signed out.', type='positive')

    ui.label('Password').classes('text-h5')
    with ui.row().classes('items-center'):
        current = ui.input('Current password', password=True).props('autocomplete=current-password')
        new = ui.input('New password', password=True).props('autocomplete=new-password')
        repeated = ui.input('Repeat the new password', password=True).props('autocomplete=new-password') \
            .classes('w-56')
        ui.button('Change password', on_click=change)
    ui.label(f'At least {auth.MIN_PASSWORD_LENGTH} characters; not your email address.') \
        .classes('text-caption text-grey-7')
    hint = ui.label().classes('text-negative')


async def _sessions_section() -> None:
    async def refresh() -> None:
        this_tab = await session.current_session()
        if this_tab is None:
            await session.current_user()
            return
        try:
            found = await auth.list_tokens(this_tab.user, kinds=KIND_LABELS)
        except ServiceError as error:
            session.refused(error)
            return
        rows.clear()
        with rows:
            for key in found:
                with ui.row().classes('items-center gap-4'):
                    ui.label(KIND_LABELS[key.kind]).classes('text-bold w-24')
                    ui.label(key.name).classes('w-48')
                    ui.label(f'since {format.timestamp(key.created_at)}').classes('text-caption text-grey-7')
                    ui.label(f'last used {format.timestamp(key.last_used_at)}' if key.last_used_at else 'never used') \
                        .classes('text-caption text-grey-7')
                    if key.id == this_tab.token_id:
                        ui.label('this browser').classes('text-caption text-positive')
                    else:
                        ui.button('Revoke', on_click=lambda k=key: revoke(k)).props('flat color=negative dense')

    async def revoke(key: TokenView) -> None:
        what = 'browser session' if key.kind == TokenKind.SESSION else 'login token'
        if not await confirm(f'Sign out the {what} "{key.name}"?', action='Revoke'):
            return
        if (actor := await session.current_user()) is None:
            return
        try:
            await auth.revoke_token(actor, key.id)
        except ServiceError as error:
            session.refused(error)
        await refresh()

    ui.label('Sessions and login tokens').classes('text-h5')
    ui.label('Where you are signed in. Revoke one you do not recognise; "Log out" ends this browser\'s.') \
        .classes('text-grey-7')
    rows = ui.column().classes('w-full gap-1')
    await refresh()
