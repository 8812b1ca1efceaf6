"""Trainboard's composition root: settings -> database -> API routers -> pages -> scheduler -> ui.run."""

import logging

from fastapi.middleware.gzip import GZipMiddleware
from nicegui import app, ui
from nicegui.storage import Storage

import api
import pages  # noqa: F401  (registers every page)
import settings
from api.security_headers import SecurityHeaders
from models import db
from pages.session import SignInRequired
from services import auth, data_files, hub, keys, runs
from services.background import scheduler

config = settings.reload()
logging.basicConfig(level=config.log_level, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
Storage.path = config.data_dir / 'sessions'
data_files.make_private(config, Storage.path)  # before the key, the database or a session file is written

api.register(app)
app.add_middleware(SignInRequired)
app.add_middleware(SecurityHeaders)
db.register(
    app, config.database_url,
    on_ready=[auth.bootstrap, runs.seal_stored_envs, lambda: hub.start(config.database_url),
              scheduler.start],
    on_close=[hub.stop, scheduler.stop],
)

if __name__ in {'__main__', '__mp_main__'}:
    ui.run(host=config.host, port=config.port, title='Trainboard', favicon='🚂', reload=False, show=False,
           storage_secret=keys.server_secret(), reconnect_timeout=10.0,
           session_middleware_kwargs={'https_only': config.cookie_secure, 'same_site': 'lax'},
           fastapi_docs={'title': 'Trainboard API', 'version': 'v1'},
           # level 1: most of the size gain for a fraction of level 9's CPU (a 1M-point CSV export, JSON answers)
           gzip_middleware_factory=lambda inner: GZipMiddleware(inner, minimum_size=1000, compresslevel=1))
