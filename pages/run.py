"""/runs/{id}: a run, live: status and why, progress and ETA, cost and forecast, steps, metric charts, artifacts, log,
config; and the browser's downloads of an artifact and of the log."""

from typing import Annotated
from urllib.parse import quote

from fastapi import Path, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from nicegui import app, ui

from components import clock, live, session
from components.frame import frame, not_found
from components.run_view import RunView
from models import MemberRole
from services import artifacts, bounds, projects, run_logs, runs
from services.errors import ServiceError
from services.stores import attachment

FLUSH_EVERY_S = 1.0  # new points reach the charts at most once a second
Id = Annotated[int, Path(ge=1, le=bounds.INT_MAX)]


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
    may_edit = await projects.role_of(user, project) in {MemberRole.EDITOR, MemberRole.OWNER}
    with frame(data['name'], user, project_id=data['project_id'], wide=True):
        view = RunView(user, data, project.name, may_edit=may_edit)
    live.on_change(view.apply)  # before the reads below: a change meanwhile is not missed
    await view.load()
    ui.timer(FLUSH_EVERY_S, view.flush)


@app.get('/runs/{run_id}/artifacts/{artifact_id}/download', include_in_schema=False, response_model=None)
async def download_artifact(run_id: Id, artifact_id: Id) -> Response:
    """An artifact's bytes for the signed-in browser (the API's route takes Bearer tokens): streamed from the local
    store, or a redirect to the bucket's presigned URL, offered as a download either way. Whoever may not see the run
    gets 404, as for the run's page."""
    user = await session.request_user()
    if user is None:  # the session ended after the sign-in guard let the request by
        return RedirectResponse(f'/login?redirect_to={quote(f"/runs/{run_id}")}', status_code=303)
    try:
        artifact, where = await artifacts.download(user, run_id, artifact_id)
    except ServiceError as error:
        return PlainTextResponse(error.message, status_code=error.status_code)
    if where.url:
        return RedirectResponse(where.url, status_code=307)
    return FileResponse(where.path, media_type='application/octet-stream',
                        headers={'Content-Disposition': attachment(artifact.name)})


@app.get('/runs/{run_id}/log/download', include_in_schema=False, response_model=None)
async def download_log(run_id: Id, request: Request) -> Response:
    """The run's whole log as a text file for the signed-in browser, its times in the browser's zone (the page's
    cookie, components/clock), streamed a page of rows at a time. Whoever may not see the run gets 404."""
    user = await session.request_user()
    if user is None:
        return RedirectResponse(f'/login?redirect_to={quote(f"/runs/{run_id}")}', status_code=303)
    try:
        filename, body = await run_logs.download(user, run_id, clock.parse(request.cookies.get(clock.COOKIE)))
    except ServiceError as error:
        return PlainTextResponse(error.message, status_code=error.status_code)
    return StreamingResponse(body, media_type='text/plain; charset=utf-8',
                             headers={'Content-Disposition': attachment(filename)})
