"""One POST to a Slack or webhook URL, to the address addresses.py checked, never blocking the event loop.

What is tried again: no answer (a network error, a timeout), a 5xx and a 429. What is not: any other answer that is
not a 2xx (a 404: the hook was deleted; a 400/401/403: the receiver refuses it; a 3xx: redirects are not followed,
so that a receiver cannot point us at another host): another try would get the same answer.

A receiver is the project owner's, and may be hostile: of its answer at most `ANSWER_READ_MAX` bytes are read (to quote
its first words), and a whole send, from the DNS lookup to the last byte, ends by `DEADLINE_S` (httpx's timeouts are
per read: a byte every few seconds would hold it, and with it the one delivery task, for ever). What the receiver
says is quoted without any of the URL's path or query, its secret (a receiver may echo them).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

from services.channels import SendFailed, addresses, hidden

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEADLINE_S = 20.0  # a whole send; within the outbox's lease (services/background/outbox.LEASE_S)
ANSWER_READ_MAX = 4096
QUOTED_MAX = 120


async def post(url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST `body` to `url`; returns on a 2xx, raises SendFailed otherwise. The URL never appears in a reason."""
    host = urlsplit(url).hostname or 'the receiver'
    try:
        async with asyncio.timeout(DEADLINE_S):
            await _post(url, body, headers)
    except TimeoutError:
        raise SendFailed(f'no answer from {host} within {DEADLINE_S:g} s', retry=True) from None


async def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        parts = addresses.parsed(url)
        address = await addresses.checked_address(parts)
    except addresses.Refused as refused:
        raise SendFailed(str(refused), retry=False) from None
    except OSError:
        raise SendFailed(f'the host {parts.hostname} was not found (DNS)', retry=True) from None
    # the checked address, with the host name in the Host header and for TLS (SNI and the certificate's name)
    host = f'[{address}]' if address.version == 6 else str(address)
    pinned = parts._replace(netloc=f'{host}:{parts.port}' if parts.port else host).geturl()
    try:
        # trust_env=False: no proxy from the environment, which would connect to the name, not the checked address
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client, \
                client.stream('POST', pinned, content=body,
                              headers={**headers, 'Host': parts.netloc, 'User-Agent': 'Trainboard'},
                              extensions={'sni_hostname': parts.hostname}) as answer:
            if answer.is_success:
                return  # its body is not read at all
            start = b''
            async for chunk in answer.aiter_raw():  # raw: a compressed answer cannot grow past the cap
                start += chunk
                if len(start) >= ANSWER_READ_MAX:
                    break
    except httpx.TimeoutException as error:
        raise SendFailed(f'no answer from {parts.hostname} in time ({type(error).__name__})', retry=True) from None
    except httpx.TransportError as error:
        raise SendFailed(f'could not reach {parts.hostname} ({type(error).__name__})', retry=True) from None
    code = answer.status_code
    retry = code >= 500 or code == 429
    # the receiver's own words, short ("no_service", "invalid_token"), without the URL's secret if it echoes it
    said = hidden(start[:ANSWER_READ_MAX].decode(answer.encoding or 'utf-8', errors='replace'),
                  [parts.path.lstrip('/'), parts.query])
    said = ' '.join(said.split())[:QUOTED_MAX]
    raise SendFailed(f'{parts.hostname} answered HTTP {code}' + (f': {said}' if said else ''), retry=retry)
