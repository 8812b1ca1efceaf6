from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from models import User
from pages import session

NAV = (('Projects', '/projects'), ('Status', '/status'), ('Settings', '/settings'))


@contextmanager
def frame(title: str, user: User) -> Iterator[ui.column]:
    """The layout every signed-in page shares: a header with navigation and the user, then the content."""
    ui.page_title(f'{title} · Trainboard')
    ui.colors(primary='#3f51b5')
    with ui.header().classes('items-center justify-between bg-primary'):
        with ui.row().classes('items-center gap-6'):
            ui.link('Trainboard', '/projects').classes('text-white text-h6 no-underline')
            for label, target in NAV:
                ui.link(label, target).classes('text-white no-underline')
            if user.is_admin:
                ui.link('Users', '/admin/users').classes('text-white no-underline')
        with ui.row().classes('items-center'):
            ui.label(user.email).classes('text-white')
            ui.button('Log out', on_click=session.sign_out).props('flat color=white')
    with ui.column().classes('w-full max-w-6xl mx-auto p-4 gap-4') as content:
        yield content
