from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from functools import partial

from nicegui import Client, background_tasks, ui

from components import clock, live, mlflow_links, reads, session
from components.bell import Bell
from models import User
from services import audit_trail, hub
from services.errors import ServiceError

clock.install()  # every page learns the browser's time zone (components/clock)
mlflow_links.install()  # and follows the mlflow client's "View run" links
NAV = (('Projects', '/projects'), ('Status', '/status'), ('Settings', '/settings'))
PRIMARY = '#3f51b5'  # the header's and buttons' colour, also on the signed-out pages (bare_page)


def not_found(user: User, message: str) -> None:
    """What a page shows for something that does not exist or that the user may not see (the same page for both:
    whether a project exists is not told to whoever may not see it)."""
    with frame('Not found', user), ui.column().classes('w-full items-center py-16 gap-2 text-center'):
        ui.icon('travel_explore', size='xl').classes('text-grey-5')
        ui.label('404 · Not found').classes('text-overline text-grey-7')
        ui.label(message).classes('text-h6 break-words max-w-full')
        ui.link('Back to projects', '/projects').classes('text-primary')


def bare_page(title: str) -> None:
    """The signed-out pages (sign-in, setup): the app's colour and the system's light or dark, as in the frame."""
    ui.page_title(f'{title} · Trainboard')
    ui.colors(primary=PRIMARY)
    ui.dark_mode(None)


@contextmanager
def frame(title: str, user: User, *, project_id: int | None = None, wide: bool = False) -> Iterator[ui.column]:
    """The layout every signed-in page shares: a header with navigation and the user, then the content; `wide` for
    the pages of tables and charts (a project's runs, a run, a comparison), which use a wide screen's width.

    The tab follows its user's powers: when the user's role or access changes (or they are deactivated), or they
    lose their place in the project the page shows (`project_id`), the page is built anew, which signs them out or
    shows only what they may still see. Services check each action anyway; this keeps the tab from showing more.
    """
    access = live.Rereads(partial(reads.may_see_project, user), _reload_unless, shared_by=('access', user.id))
    live.on_change(lambda change: _follow_access(change, user, project_id, access))
    ui.page_title(f'{title} · Trainboard')
    ui.colors(primary=PRIMARY)
    ui.dark_mode(None)  # follows the system's setting (Quasar's "auto")
    ui.add_css(DARK_CSS)
    links = list(NAV)
    if user.is_admin:
        links += [('Audit', '/audit'), ('Users', '/admin/users')]
    here = _section(ui.context.client)
    with ui.header().classes('items-center gap-x-3 gap-y-1 bg-primary no-wrap px-2 sm:px-4'):
        # on a phone the links fold into a menu, so that the header keeps to one row
        with ui.button(icon='menu').props('flat round dense color=white aria-label="Menu"').classes('sm:hidden'), \
                ui.menu() as phone_menu:
            for label, target in links:
                _menu_item(label, target, here)
        ui.link('Trainboard', '/projects').classes('text-h6 text-white no-underline whitespace-nowrap')
        # one element for all the links: NiceGUI re-renders every element of a tab on each update it gets
        menu = ui.html(_links_html(links, here), sanitize=False).classes('max-sm:hidden flex items-center gap-1')
        with ui.row().classes('items-center no-wrap ml-auto gap-1'):
            Bell(user)
            ui.label(user.email).classes('text-white max-md:hidden ml-2')  # a phone's header keeps to one row
            ui.button('Log out', on_click=session.sign_out).props('flat color=white no-caps')
    if not user.is_admin:  # a project owner reads their projects' audit trail: known after a query, so added then
        background_tasks.create(_add_audit_link(menu, phone_menu, links, here, user), name='audit-link')
    width = 'max-w-screen-2xl' if wide else 'max-w-6xl'
    with ui.column().classes(f'w-full {width} mx-auto p-3 sm:p-4 gap-4') as content:
        yield content


# Quasar's grey text classes are for a light page: on the dark one they are lifted so that they still read. In the
# "overrides" layer: Quasar's own colour classes are !important in a later layer, which an unlayered rule cannot beat
DARK_CSS = '''
@layer overrides {
  .body--dark { --q-primary: #9fa8da !important; }
  .body--dark .text-grey-10, .body--dark .text-grey-9 { color: #eeeeee !important; }
  .body--dark .text-grey-8 { color: #d0d0d0 !important; }
  .body--dark .text-grey-7 { color: #b8b8b8 !important; }
  .body--dark .text-grey-6 { color: #9e9e9e !important; }
  .body--dark .bg-amber-1 { background: #3d3420 !important; color: #f5f5f5 !important; }
  .body--dark .bg-grey-1, .body--dark .bg-grey-2 { background: #262626 !important; }
  .body--dark .bg-white { background: var(--q-dark) !important; }
  .body--dark .bg-blue-1 { background: #2a3350 !important; }
  .body--dark .bg-red-1 { background: #3b2226 !important; color: #ffb4ab !important; }
  .body--dark .q-header.bg-primary, .body--dark .q-btn.bg-primary { background: #3949ab !important; }
}
.tb-nav { color: white; text-decoration: none; padding: 4px 10px; border-radius: 6px; white-space: nowrap; }
.tb-nav:hover { background: rgba(255, 255, 255, 0.12); }
.tb-nav[aria-current="page"] { background: rgba(255, 255, 255, 0.22); font-weight: 600; }
'''
SECTIONS = {'/runs': '/projects'}  # a run's page is part of Projects


def _section(client: Client) -> str:
    """Which link of the header the page belongs to: '/projects' for /projects/3 and /runs/9."""
    path = client.request.url.path if client.request is not None else ''
    first = '/' + path.strip('/').split('/')[0]
    return SECTIONS.get(first, '/admin/users' if path.startswith('/admin/users') else first)


def _links_html(links: list[tuple[str, str]], here: str) -> str:
    """The header's links; the page's own marked (aria-current), which the stylesheet highlights. Fixed labels and
    paths only: nothing a user typed is in it."""
    return ''.join(f'<a href="{target}" class="tb-nav"{" aria-current=page" if target == here else ""}>{label}</a>'
                   for label, target in links)


def _menu_item(label: str, target: str, here: str) -> None:
    item = ui.menu_item(label, on_click=lambda: ui.navigate.to(target))
    if target == here:
        item.classes('text-primary text-bold').props('active')


async def _add_audit_link(menu: ui.html, phone_menu: ui.menu, links: list[tuple[str, str]], here: str,
                          user: User) -> None:
    try:
        owns = await audit_trail.may_read(user)
    except ServiceError:  # signed out meanwhile: the page's own checks send the tab to sign in
        return
    if owns and not menu.is_deleted:
        menu.set_content(_links_html([*links, ('Audit', '/audit')], here))
        with phone_menu:
            _menu_item('Audit', '/audit', here)


def _follow_access(change: hub.Change, user: User, project_id: int | None,
                   access: live.Rereads[int, bool]) -> Awaitable[None] | None:
    own_account = change.kind == 'user' and change.id == user.id
    if own_account and change.action == 'sessions_ended':  # maybe not this tab's: it checks its own
        client = ui.context.client

        async def check_session() -> None:
            with client:
                await session.current_user()  # off to /login if it has ended
        background_tasks.create(check_session(), name='check-session')
    elif own_account:
        ui.navigate.reload()
    elif project_id is not None and change.kind == 'project' and change.id == project_id \
            and change.action != 'deleted' and not user.is_admin:
        return access.ask(project_id)  # a member may have been removed: ask, do not guess
    return None


def _reload_unless(_project_id: int, may_see: bool) -> None:
    if not may_see:
        ui.navigate.reload()
