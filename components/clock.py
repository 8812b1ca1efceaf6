"""The viewer's time zone: the browser says it, the server renders every time in it.

A small script on every page (shared head HTML, so the sign-in page too) stores the browser's IANA zone
(`Intl.DateTimeFormat().resolvedOptions().timeZone`) in the `tz` cookie. Pages read it from the request that built
them, so `components/format` renders times in the viewer's zone without any caller passing it. A zone the server
does not know, a missing cookie or code outside a page (a background task) means UTC. The first page a browser opens
after its zone changed was built before the cookie said so: the script reloads it once (not the sign-in page, which
shows no times, and not for UTC, which the server assumed anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, tzinfo
from functools import lru_cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nicegui import Client, context

COOKIE = 'tz'
MAX_NAME = 64  # the longest IANA names are about 30 characters; anything longer is not a zone
SCRIPT = ("<script>(function(){var z;try{z=Intl.DateTimeFormat().resolvedOptions().timeZone}catch(e){return}"
          "if(!z)return;var m=document.cookie.match(/(?:^|; )" + COOKIE + "=([^;]*)/);"
          "if(m&&decodeURIComponent(m[1])===z)return;"
          "document.cookie='" + COOKIE + "='+encodeURIComponent(z)+'; path=/; max-age=31536000; SameSite=Lax';"
          "if(z==='UTC'||z==='Etc/UTC'||location.pathname.indexOf('/login')===0)return;"
          "try{if(sessionStorage.getItem('tz-reloaded')===z)return;sessionStorage.setItem('tz-reloaded',z)}"
          "catch(e){return}location.reload()})()</script>")

_chosen: ContextVar[tzinfo | None] = ContextVar('zone', default=None)


def install() -> None:
    """Put the script in every page's head (once per process)."""
    if SCRIPT not in Client.shared_head_html:
        Client.shared_head_html += SCRIPT + '\n'


def zone() -> tzinfo:
    """The zone times are shown in: one chosen for this code (`using`), else the page's viewer's, else UTC."""
    chosen = _chosen.get()
    if chosen is not None:
        return chosen
    try:
        cookies = context.client.request.cookies
    except RuntimeError:  # not inside a page: no viewer
        return UTC
    return parse(cookies.get(COOKIE))


def parse(name: str | None) -> tzinfo:
    """The zone `name` names (IANA, as browsers say it; percent-encoded as a cookie may hold it), or UTC when it
    names none."""
    name = unquote(name or '')
    return _zone(name) if name and len(name) <= MAX_NAME else UTC


@contextmanager
def using(chosen: tzinfo) -> Iterator[None]:
    """Show times in `chosen` within the block (a download, which no page built, and tests)."""
    token = _chosen.set(chosen)
    try:
        yield
    finally:
        _chosen.reset(token)


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # unknown, or a path ("../etc") ZoneInfo refuses
        return UTC
