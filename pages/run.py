"""/runs/{id}: a run, live: status and why, progress and ETA, cost and forecast, steps, metric charts, log, config."""

from nicegui import ui

from components import live, session
from components.frame import frame, not_found
from components.run_view import RunView
from services import projects, runs
from services.errors import ServiceError

FLUSH_EVERY_S = 1.0  # new points reach the charts at most once a second


@ui.page('/runs/{run_id}')
async def run_page(run_id: int) -> None:
    user = await session.current_user()
    if user is None:
        return
    try:
        run = await runs.get_run(user, run_id)
        project = await projects.get_project(user, run.project_id)
    except ServiceError as error:
        not_found(user, error.message)
        return
    data = await runs.snapshot(run)
    with frame(data['name'], user, project_id=data['project_id']):
        view = RunView(user, data, project.name)
    live.on_change(view.apply)  # before the reads below: a change meanwhile is not missed
    await view.load()
    ui.timer(FLUSH_EVERY_S, view.flush)
