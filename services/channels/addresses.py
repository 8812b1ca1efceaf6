"""Where outgoing webhooks may go: http(s) URLs of public hosts only, checked when a target is added and again,
after DNS resolution, at every send (a name may come to point elsewhere after it was added).

Loopback, private, link-local (the clouds' metadata service at 169.254.169.254), multicast, reserved and unspecified
addresses are refused, and so are IPv6 ones that carry such an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64),
unless TRAINBOARD_WEBHOOK_PRIVATE_HOSTS=true (a receiver on the team's own network; tests).
A send connects to the address that was checked (http.py), so that a second lookup cannot swap it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

import settings

URL_MAX = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """A URL that may not be sent to; the message says why, without the URL's secret part."""


def parsed(url: str) -> SplitResult:
    """The URL's parts if it can be a webhook's at all (scheme, host, length); Refused otherwise."""
    url = url.strip()
    if not url:
        raise Refused('Give the URL to send to.')
    if len(url) > URL_MAX:
        raise Refused(f'That URL is longer than {URL_MAX} characters.')
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Refused('A URL cannot contain spaces or control characters.')
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise Refused('That is not a URL.') from None
    if parts.port == 0:
        raise Refused('The port must be between 1 and 65535 (or left out).')
    if parts.scheme not in {'http', 'https'}:
        raise Refused('The URL must start with https:// (or http://).')
    if not parts.hostname:
        raise Refused('The URL has no host.')
    if parts.username is not None or parts.password is not None:
        raise Refused('Put no user name or password before the host in the URL.')
    return parts


async def checked_address(parts: SplitResult) -> IPAddress:
    """The address to connect to for `parts`: every address its host resolves to must be allowed (Refused
    otherwise); OSError when the name does not resolve now."""
    host = parts.hostname or ''
    try:
        found = [ipaddress.ip_address(host)]
    except ValueError:
        port = parts.port or (443 if parts.scheme == 'https' else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except UnicodeError:  # a name IDNA cannot encode (a label over 63 characters, say)
            raise Refused(f'{host[:100]} is not a host name.') from None
        found = [ipaddress.ip_address(info[4][0].split('%')[0]) for info in infos]
    if not found:
        raise OSError(f'{host} has no address')
    if not settings.current.webhook_private_hosts:
        for address in found:
            if why := refused_because(address):
                raise Refused(f'{host} is {why} ({address}): webhooks only go to public addresses.')
    return found[0]


def refused_because(address: IPAddress) -> str | None:
    """Why an address is not one to send to (None: it is public)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if isinstance(address, ipaddress.IPv6Address):
        # an IPv4 address inside: 6to4 (2002:7f00:1:: reaches 127.0.0.1 through a relay), Teredo's server and client,
        # NAT64's well-known prefix: each must be allowed itself
        for inner in (address.sixtofour, *(address.teredo or ()), _nat64(address)):
            if inner is not None and (why := refused_because(inner)):
                return why
    for why, test in (('a loopback address', address.is_loopback), ('a link-local address', address.is_link_local),
                      ('an unspecified address', address.is_unspecified), ('a multicast address', address.is_multicast),
                      ('a private address', address.is_private), ('a reserved address', address.is_reserved)):
        if test:
            return why
    return None if address.is_global else 'not a public address'


NAT64 = ipaddress.IPv6Network('64:ff9b::/96')


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None


async def check(url: str) -> str:
    """`url`, stripped, if a target may be added with it; Refused with a readable reason otherwise."""
    parts = parsed(url)
    try:
        await checked_address(parts)
    except OSError:
        raise Refused(f'The host {parts.hostname} was not found: check the URL.') from None
    return url.strip()


def hint(url: str) -> str:
    """What is shown of a URL: its scheme and host, the rest masked but for its last four characters (a Slack URL's
    path is its secret)."""
    parts = urlsplit(url)
    rest = url[len(f'{parts.scheme}://{parts.netloc}'):].lstrip('/')
    masked = '•' * 4 + rest[-4:] if len(rest) > 8 else ('•' * 4 if rest else '')
    return f'{parts.scheme}://{parts.netloc}/{masked}'[:200]


def origin(url: str) -> str:
    """A URL's scheme and host only: what the audit trail keeps (even a hint's last four characters are some of a Slack
    URL's secret, and the trail is read by every owner for long)."""
    parts = urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}'[:200]
