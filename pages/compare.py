"""/compare?runs=<ids>: runs side by side, live: every metric overlaid, the config keys that differ, parallel
coordinates. The link is the comparison: the project page opens it for the runs chosen there, and a teammate who
opens it sees the same runs, as far as they may see them."""

from urllib.parse import quote

from nicegui import ui

from components import live, session
from components.compare_view import CompareView, title_of
from components.frame import frame
from models import User
from services import comparison
from services.errors import Invalid, ServiceError

FLUSH_EVERY_S = 1.0  # new points reach the charts at most once a second


@ui.page('/compare')
async def compare_page(runs: str = '') -> None:
    user = await session.current_user()
    if user is None:
        return
    try:
        ids = comparison.parse_ids(runs)
        compared = await comparison.compare(user, ids)
    except Invalid as error:
        _bad_link(user, error.message)
        return
    except ServiceError as error:  # signed out or deactivated meanwhile
        session.refused(error)
        return
    single = next(iter(compared.project_ids)) if len(compared.project_ids) == 1 else None
    # one project: the frame rebuilds the page when the user loses it; several: the view checks them itself
    with frame(f'Compare {title_of(len(compared.runs))}', user, project_id=single, wide=True):
        view = CompareView(user, compared, f'/compare?runs={quote(",".join(ids), safe=",")}')
    live.on_change(view.apply)  # before the reads below: a change meanwhile is not missed
    # the page first (runs, config, parallel view), then the charts: twenty runs' metrics take a moment longer
    await ui.context.client.connected()
    await view.load()
    ui.timer(FLUSH_EVERY_S, view.flush)


def _bad_link(user: User, message: str) -> None:
    with frame('Compare runs', user):
        ui.label('Compare runs').classes('text-h5')
        ui.label(message).classes('text-negative break-words').props('role=alert')
        ui.label('Choose runs on a project\'s page and press Compare, or fix the link.').classes('text-grey-7')
        ui.link('Back to projects', '/projects')
