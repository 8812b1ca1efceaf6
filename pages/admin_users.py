"""/admin/users: admins add users, change roles, deactivate and reactivate them."""

from nicegui import ui

from components.frame import frame
from models import Role, User
from pages import session
from services import auth
from services.errors import ServiceError


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
        rows.clear()
        with rows:
            for member in await User.all().order_by('email'):
                with ui.row().classes('items-center gap-4'):
                    ui.label(member.email).classes('w-64')
                    ui.label(member.name).classes('w-40 text-grey-8')
                    ui.select([r.value for r in Role], value=member.role.value,
                              on_change=lambda e, m=member: change(m, role=Role(e.value))).classes('w-32')
                    ui.switch('active', value=member.is_active,
                              on_change=lambda e, m=member: change(m, is_active=e.value))

    async def change(member: User, **changes) -> None:
        try:
            await auth.update_user(member.id, actor=user, **changes)
        except ServiceError as error:
            ui.notify(error.message, type='negative')
        await refresh()

    async def add() -> None:
        try:
            await auth.create_user(email.value, password.value, name=name.value, role=Role(role.value), actor=user)
        except ServiceError as error:
            hint.set_text(error.message)
            return
        hint.set_text('')
        for field in (email, name, password):
            field.set_value('')
        ui.notify('User added', type='positive')
        await refresh()

    with frame('Users', user):
        ui.label('Users').classes('text-h5')
        with ui.row().classes('items-center'):
            email = ui.input('Email')
            name = ui.input('Name')
            password = ui.input('Password', password=True)
            role = ui.select([r.value for r in Role], value='member', label='Role').classes('w-32')
            ui.button('Add user', on_click=add)
        hint = ui.label().classes('text-negative')
        rows = ui.column().classes('w-full gap-1')
    await refresh()
