"""/admin/users: admins add users, change roles, reset passwords, deactivate and reactivate users.

Each action asks who is signed in again: a tab opened by an admin who has since been demoted or deactivated is
refused by the service, and sent to sign in again.
"""

from nicegui import ui

from components import session
from components.dialogs import discard
from components.frame import frame
from models import Role
from services import auth
from services.auth import UserView
from services.errors import Forbidden, ServiceError, Unauthorized


@ui.page('/admin/users')
async def users_page() -> None:
    user = await session.current_user()
    if user is None:
        return
    if not user.is_admin:
        with frame('Users', user):
            ui.label('Only admins manage users.').classes('text-h6')
        return

    async def refresh() -> None:
        if (actor := await session.current_user()) is None:
            return
        try:
            members = await auth.list_users(actor)
        except ServiceError as error:
            _refused(error)
            return
        rows.clear()
        with rows:
            for member in members:
                with ui.row().classes('w-full items-center gap-x-4 gap-y-0 py-1 border-b border-black/10 '
                                      'dark:border-white/10'):
                    ui.label(member.email).classes('w-64 max-w-full break-all')
                    ui.label(member.name).classes('w-40 text-grey-8 break-words')
                    ui.select([r.value for r in Role], value=member.role.value,
                              on_change=lambda e, m=member: change(m, role=Role(e.value))).classes('w-32')
                    ui.switch('active', value=member.is_active,
                              on_change=lambda e, m=member: change(m, is_active=e.value))
                    ui.button('Reset password', on_click=lambda m=member: reset_password(m)).props('flat dense') \
                        .mark(f'reset-password-{member.id}')

    async def change(member: UserView, **changes) -> None:
        if (actor := await session.current_user()) is None:
            return
        try:
            await auth.update_user(member.id, actor=actor, **changes)
        except ServiceError as error:
            _refused(error)
        await refresh()

    async def add() -> None:
        if (actor := await session.current_user()) is None:
            return
        try:
            await auth.create_user(email.value, password.value, name=name.value, role=Role(role.value), actor=actor)
        except (Forbidden, Unauthorized) as error:
            _refused(error)
            return
        except ServiceError as error:
            hint.set_text(error.message)
            return
        hint.set_text('')
        for field in (email, name, password):
            field.set_value('')
        ui.notify('User added', type='positive')
        await refresh()

    async def reset_password(member: UserView) -> None:
        new_password = await _ask_new_password(member)
        if new_password is None or (actor := await session.current_user()) is None:
            return
        try:
            await auth.reset_password(member.id, new_password, actor=actor)
        except ServiceError as error:
            _refused(error)
            return
        ui.notify(f'Password of {member.email} reset: their sessions and login tokens have ended.', type='positive')

    with frame('Users', user):
        ui.label('Users').classes('text-h5')
        with ui.row().classes('w-full items-start'):  # on a phone each field takes the width
            email = ui.input('Email').classes('w-full sm:w-56')
            # no maxlength: it cuts a pasted name short without a word; the field says what is wrong instead
            name = ui.input('Name', validation={f'At most {auth.MAX_NAME_LENGTH} characters':
                                                lambda text: len((text or '').strip()) <= auth.MAX_NAME_LENGTH}) \
                .props('counter').classes('w-full sm:w-56')
            password = ui.input('Password', password=True).classes('w-full sm:w-56')
            role = ui.select([r.value for r in Role], value='member', label='Role').classes('w-full sm:w-32')
            ui.button('Add user', on_click=add).classes('self-center')
        hint = ui.label().classes('text-negative')
        rows = ui.column().classes('w-full gap-1')
    await refresh()


def _refused(error: ServiceError) -> None:
    """A demoted admin's tab reloads into what a member sees; a deactivated one is sent to sign in."""
    session.refused(error)
    if isinstance(error, Forbidden):
        ui.navigate.reload()


async def _ask_new_password(member: UserView) -> str | None:
    with ui.dialog() as dialog, ui.card():
        ui.label(f'New password for {member.email}').classes('text-h6')
        ui.label('Their browser sessions and login tokens end; API keys stay.').classes('text-grey-7')
        field = ui.input('New password', password=True).classes('w-full')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=lambda: dialog.submit(None)).props('flat')
            ui.button('Reset password', on_click=lambda: dialog.submit(field.value)).mark('confirm-reset')
    result = await dialog
    discard(dialog)
    return result
