from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from models import User
from pages import session

NAV = (('Projects', '/projects'), ('Status', '/status'), ('Settings', '/settings'))


def not_found(user: User, message: str) -> None:
    """What a page shows for something that does not exist or that the user may not see."""
    with frame('Not found', user):
        ui.label(message).classes('text-h6')
        ui.link('Back to projects', '/projects')


@contextmanager
def frame(title: str, user: User) -> Iterator[ui.column]:
    """The layout every signed-in page shares: a header with navigation and the user, then the content."""
    ui.page_title(f'{title} · Trainboard')
    ui.colors(primary='#3f51b5')
    links = [('Trainboard', '/projects', 'text-h6'), *((label, target, '') for label, target in NAV)]
    if user.is_admin:
        links.append(('Users', '/admin/users', ''))
    with ui.header().classes('items-center justify-between bg-primary'):
        # one element for the whole menu: NiceGUI re-renders every element of a tab on each update it gets
        ui.html(''.join(f'<a href="{target}" class="text-white no-underline {extra}">{label}</a>'
                        for label, target, extra in links), sanitize=False).classes('row items-center gap-6')
        with ui.row().classes('items-center'):
            ui.label(user.email).classes('text-white')
            ui.button('Log out', on_click=session.sign_out).props('flat color=white')
    with ui.column().classes('w-full max-w-6xl mx-auto p-4 gap-4') as content:
        yield content
