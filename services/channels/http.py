"""One POST to a Slack or webhook URL, to the address addresses.py checked, never blocking the event loop.

What is tried again: no answer (a network error, a timeout), a 5xx and a 429. What is not: any other answer that is
not a 2xx (a 404: the hook was deleted; a 400/401/403: the receiver refuses it; a 3xx: redirects are not followed,
so that a receiver cannot point us at another host): another try would get the same answer.
"""

from __future__ import annotations

import httpx

from services.channels import SendFailed, addresses

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def post(url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST `body` to `url`; returns on a 2xx, raises SendFailed otherwise. The URL never appears in a reason."""
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
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            answer = await client.post(pinned, content=body,
                                       headers={**headers, 'Host': parts.netloc, 'User-Agent': 'Trainboard'},
                                       extensions={'sni_hostname': parts.hostname})
    except httpx.TimeoutException as error:
        raise SendFailed(f'no answer from {parts.hostname} in time ({type(error).__name__})', retry=True) from None
    except httpx.TransportError as error:
        raise SendFailed(f'could not reach {parts.hostname} ({type(error).__name__})', retry=True) from None
    if answer.is_success:
        return
    code = answer.status_code
    retry = code >= 500 or code == 429
    said = ' '.join(answer.text[:120].split())  # the receiver's own words, short: "no_service", "invalid_token"
    raise SendFailed(f'{parts.hostname} answered HTTP {code}' + (f': {said}' if said else ''), retry=retry)
