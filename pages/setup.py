from fastapi.responses import RedirectResponse
from nicegui import ui

from components import session
from components.frame import bare_page
from services import auth
from services.errors import ServiceError


@ui.page('/setup')
async def setup_page(token: str = '') -> RedirectResponse | None:
    if not auth.needs_setup():
        return RedirectResponse('/login')

    async def create_admin() -> None:
        try:
            user = await auth.complete_setup(token_input.value, email.value, password.value, name.value)
        except ServiceError as error:
            hint.set_text(error.message)
            hint.visible = True
            return
        await session.sign_in(user)
        ui.navigate.to('/projects')

    bare_page('Set up')
    # a phone's screen keeps a margin around it
    with ui.card().classes('absolute-center w-96 max-w-[calc(100vw-2rem)]'):
        ui.label('Welcome to Trainboard').classes('text-h5')
        ui.label('Create the first admin. The setup token is printed on the console where Trainboard started.') \
            .classes('text-grey-7')
        token_input = ui.input('Setup token', value=token).classes('w-full')
        name = ui.input('Name').classes('w-full')
        email = ui.input('Email').props('type=email').classes('w-full')
        password = ui.input('Password', password=True).classes('w-full')
        hint = ui.label().classes('text-negative')
        hint.visible = False
        ui.button('Create admin', on_click=create_admin).classes('w-full')
    return None
