"""Trainboard's composition root: settings -> database -> API routers -> pages -> scheduler -> ui.run."""

import logging
import multiprocessing
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from nicegui import app, helpers, ui
from nicegui.storage import Storage
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

import api
import launcher
import pages  # registers every page
import settings
from api.security_headers import SecurityHeaders
from components.session import SignInRequired
from services import auth, data_files, database, hub, keys, log_secrets, runs
from services.background import scheduler

EXIT_DATABASE_UNAVAILABLE = 2
log = logging.getLogger('trainboard')


def serve_database(app: FastAPI, url: str, *,
                   on_ready: Sequence[Callable[[], Awaitable[None]]] = (),
                   on_close: Sequence[Callable[[], Awaitable[None]]] = ()) -> None:
    """Migrate and open the database before NiceGUI starts, run `on_ready` once it has; `on_close` in reverse at the
    end. This wraps the app's lifespan: NiceGUI does not await async `app.on_startup` handlers."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        try:
            await database.migrate_database(url)
        except database.DatabaseUnavailable as error:
            # one line saying why, and out now: raised on, it would become a page of traceback in the log
            log.critical('Trainboard cannot start: %s', error)
            logging.shutdown()
            os._exit(EXIT_DATABASE_UNAVAILABLE)
        await database.open_orm(url)
        try:
            async with inner(app_) as state:
                for hook in on_ready:
                    await hook()
                try:
                    yield state
                finally:
                    for hook in reversed(on_close):
                        await hook()
        finally:
            await database.close_orm()

    app.router.lifespan_context = lifespan


if __name__ == '__main__':
    multiprocessing.freeze_support()  # in the binary, a worker process of multiprocessing stops here (PyInstaller)
# the command line becomes TRAINBOARD_* variables before the settings are read; a `user` test runs this file under
# pytest, whose arguments are not ours
launch = launcher.configure(sys.argv[1:]) if __name__ == '__main__' and not helpers.is_pytest() else \
    launcher.Launch(open_browser=False)
config = settings.reload()
logging.basicConfig(level=config.log_level, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
# httpx logs every request's full URL at INFO ("HTTP Request: POST <url>"): a Slack URL's path and a webhook's query
# are their secrets (services/channels), so its request lines stay out of the log, whatever the level
for _name in ('httpx', 'httpcore'):
    logging.getLogger(_name).setLevel(logging.WARNING)
if settings.serves_the_network_unnamed(config):
    log.warning('Listening on %s: other machines reach this server over plain HTTP, and its links say %s. Set '
                'TRAINBOARD_PUBLIC_URL to the https:// address people use, with TLS in front (docs/deploy.md).',
                config.host, config.public_url)
Storage.path = config.data_dir / 'sessions'
data_files.make_private(config, Storage.path)  # before the key, the database or a session file is written

api.register(app)
pages.not_found.register(app)  # after the API's handlers: what is not a page keeps their answers
app.add_middleware(SignInRequired)
app.add_middleware(SecurityHeaders)


async def open_browser() -> None:
    """Once the server listens: on the one-time setup link if there is no user yet, else on the first page."""
    helpers.schedule_browser('http', config.host, config.port, auth.setup_path() or '/')


serve_database(
    app, config.database_url,
    on_ready=[auth.bootstrap, runs.seal_stored_envs, log_secrets.hide_in_stored_lines,
              lambda: hub.start(config.database_url), scheduler.start,
              *([open_browser] if launch.open_browser else [])],
    on_close=[hub.stop, scheduler.stop],
)

if __name__ in {'__main__', '__mp_main__'}:
    ui.run(host=config.host, port=config.port, title='Trainboard', favicon='🚂', reload=False, show=False,
           storage_secret=keys.server_secret(), reconnect_timeout=10.0,
           session_middleware_kwargs={'https_only': config.cookie_secure, 'same_site': 'lax'},
           fastapi_docs={'title': 'Trainboard API', 'version': 'v1'},
           # level 1: most of the size gain for a fraction of level 9's CPU (a 1M-point CSV export, JSON answers);
           # never an artifact's bytes (octet-stream): a checkpoint does not compress; gzip held downloads to 29 MiB/s
           gzip_middleware_factory=lambda inner: GZipMiddleware(
               inner, minimum_size=1000, compresslevel=1,
               exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, 'application/octet-stream')))
