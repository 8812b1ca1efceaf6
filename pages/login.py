from fastapi.responses import RedirectResponse
from nicegui import ui

from components import session
from components.frame import bare_page
from services import auth
from services.errors import ServiceError


@ui.page('/login')
async def login_page(redirect_to: str = session.DEFAULT_PAGE) -> RedirectResponse | None:
    redirect_to = session.safe_redirect(redirect_to)  # never bounce a user to another site
    if auth.needs_setup():
        return RedirectResponse('/setup')

    async def log_in() -> None:
        button.props('loading')
        try:
            user = await auth.authenticate(email.value, password.value, address=session.client_address())
        except ServiceError as error:
            hint.set_text(error.message)
            hint.visible = True
            return
        finally:
            button.props(remove='loading')
        await session.sign_in(user)
        ui.navigate.to(redirect_to)

    bare_page('Sign in')
    # a phone's screen keeps a margin around it
    with ui.card().classes('absolute-center w-96 max-w-[calc(100vw-2rem)]'):
        ui.label('Trainboard').classes('text-h5')
        ui.label('Sign in to watch your training runs.').classes('text-grey-7')
        email = ui.input('Email').props('type=email autocomplete=username autofocus').classes('w-full')
        password = ui.input('Password', password=True).props('autocomplete=current-password').classes('w-full') \
            .on('keydown.enter', log_in)
        hint = ui.label().classes('text-negative')
        hint.visible = False
        button = ui.button('Log in', on_click=log_in).classes('w-full')
    return None
