"""Trainboard's composition root: settings -> database -> API routers -> pages -> scheduler -> ui.run."""

import logging

from fastapi.middleware.gzip import GZipMiddleware
from nicegui import app, ui
from nicegui.storage import Storage

import api
import pages  # noqa: F401  (registers every page)
import settings
from models import db
from pages.session import SignInRequired
from services import auth, hub, keys, run_control, scheduler

config = settings.reload()
logging.basicConfig(level=config.log_level, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
Storage.path = config.data_dir / 'sessions'

api.register(app)
app.add_middleware(SignInRequired)
db.register(
    app, config.database_url,
    on_ready=[auth.bootstrap, lambda: hub.start(config.database_url), run_control.resume_pending_actions,
              scheduler.start],
    on_close=[hub.stop, scheduler.stop],
)

if __name__ in {'__main__', '__mp_main__'}:
    ui.run(host=config.host, port=config.port, title='Trainboard', favicon='🚂', reload=False, show=False,
           storage_secret=keys.server_secret(), reconnect_timeout=10.0,
           fastapi_docs={'title': 'Trainboard API', 'version': 'v1'},
           # level 1: most of the size gain for a fraction of level 9's CPU (a 1M-point CSV export, JSON answers)
           gzip_middleware_factory=lambda inner: GZipMiddleware(inner, minimum_size=1000, compresslevel=1))
