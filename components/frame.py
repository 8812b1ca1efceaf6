from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from functools import partial

from nicegui import background_tasks, ui

from components import clock, live, reads, session
from components.bell import Bell
from models import User
from services import audit_trail, hub
from services.errors import ServiceError

clock.install()  # every page learns the browser's time zone (components/clock)
NAV = (('Projects', '/projects'), ('Status', '/status'), ('Settings', '/settings'))


def not_found(user: User, message: str) -> None:
    """What a page shows for something that does not exist or that the user may not see."""
    with frame('Not found', user):
        ui.label(message).classes('text-h6')
        ui.link('Back to projects', '/projects')


@contextmanager
def frame(title: str, user: User, *, project_id: int | None = None) -> Iterator[ui.column]:
    """The layout every signed-in page shares: a header with navigation and the user, then the content.

    The tab follows its user's powers: when the user's role or access changes (or they are deactivated), or they
    lose their place in the project the page shows (`project_id`), the page is built anew, which signs them out or
    shows only what they may still see. Services check each action anyway; this keeps the tab from showing more.
    """
    access = live.Rereads(partial(reads.may_see_project, user), _reload_unless, shared_by=('access', user.id))
    live.on_change(lambda change: _follow_access(change, user, project_id, access))
    ui.page_title(f'{title} · Trainboard')
    ui.colors(primary='#3f51b5')
    links = [('Trainboard', '/projects', 'text-h6'), *((label, target, '') for label, target in NAV)]
    if user.is_admin:
        links += [('Audit', '/audit', ''), ('Users', '/admin/users', '')]
    with ui.header().classes('items-center gap-x-5 gap-y-1 bg-primary'):
        # one element for the whole menu: NiceGUI re-renders every element of a tab on each update it gets. Its links
        # flow in the header's own row (`contents`), so on a phone the bell and Log out share their second row
        menu = ui.html(''.join(f'<a href="{target}" class="text-white no-underline {extra}">{label}</a>'
                               for label, target, extra in links), sanitize=False).classes('contents')
        with ui.row().classes('items-center no-wrap ml-auto'):
            Bell(user)
            ui.label(user.email).classes('text-white max-sm:hidden')  # a phone's header keeps to one row or two
            ui.button('Log out', on_click=session.sign_out).props('flat color=white')
    if not user.is_admin:  # a project owner reads their projects' audit trail: known after a query, so added then
        background_tasks.create(_add_audit_link(menu, links, user), name='audit-link')
    with ui.column().classes('w-full max-w-6xl mx-auto p-4 gap-4') as content:
        yield content


async def _add_audit_link(menu: ui.html, links: list[tuple[str, str, str]], user: User) -> None:
    try:
        owns = await audit_trail.may_read(user)
    except ServiceError:  # signed out meanwhile: the page's own checks send the tab to sign in
        return
    if owns and not menu.is_deleted:
        menu.set_content(''.join(f'<a href="{target}" class="text-white no-underline {extra}">{label}</a>'
                                 for label, target, extra in [*links, ('Audit', '/audit', '')]))


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
