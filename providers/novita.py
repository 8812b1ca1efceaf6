"""Novita AI's GPU instance API (v1) over httpx: products, create, a paged list for many states at once, lifecycle.

Novita sends numbers as strings and prices in 1/100,000 USD per GPU-hour; business errors are HTTP 400 carrying a
name. Every call has a timeout; 429 and 5xx are retried with backoff; a status we do not know is kept and shown.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from providers.base import (
    JOB_NAME_PREFIX,
    Capabilities,
    JobSpec,
    JobState,
    LogChunk,
    Phase,
    Product,
    ProviderError,
    UsageSample,
)

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

API = '/gpu-instance/openapi/v1'
METRICS = '/openapi/v1/metrics/gpu/instance'  # not under /gpu-instance (reference 1.11)
METRICS_INTERVAL_S = 15  # the finest Novita keeps
LOG_TAIL = 1000
PRODUCTS_TTL_S = 30.0
PAGE_SIZE = 100
RETRIES = 3  # with backoff from 0.5 s: gives up after 3.5 s, and the next poll tries again
TIMEOUT_S = 15.0
INSTANCE_PREFIX = JOB_NAME_PREFIX
CURSOR_LINES = 3  # the last lines read, as a digest: where to go on from in the next tail snapshot
PHASES = {
    'toCreate': Phase.PROVISIONING, 'creating': Phase.PROVISIONING, 'pending': Phase.PROVISIONING,
    'pulling': Phase.PROVISIONING, 'running': Phase.RUNNING, 'toStart': Phase.PROVISIONING,
    'starting': Phase.PROVISIONING, 'toRestart': Phase.PROVISIONING, 'restarting': Phase.PROVISIONING,
    'toReset': Phase.PROVISIONING, 'resetting': Phase.PROVISIONING, 'migrating': Phase.PROVISIONING,
    'toStop': Phase.RUNNING, 'stopping': Phase.RUNNING, 'exited': Phase.EXITED,
    'toRemove': Phase.GONE, 'removing': Phase.GONE, 'removed': Phase.GONE,
}
RECLAIM_NOTICES = {'notified', 'reclaiming'}  # spotStatus once Novita has said it takes a spot instance back
BILLED = {'pulling', 'running', 'toStart', 'starting', 'toRestart', 'restarting', 'toStop', 'stopping', 'toReset',
          'resetting', 'migrating'}  # Novita bills from `pulling` until the instance has stopped
MESSAGES = {
    'INSUFFICIENT_RESOURCE': 'Novita has no free GPUs of that product right now: pick another product or region.',
    'BALANCE_NOT_ENOUGH': 'The Novita account balance is too low: top it up at novita.ai.',
    'EXPIRED_OR_BALANCE_NOT_ENOUGH': 'The Novita account balance is too low: top it up at novita.ai.',
    'CREATE_INSTANCE_LIMIT': 'Novita\'s instance limit is reached: delete instances or raise the limit.',
    'RESOURCE_NOT_FOUND': 'Novita does not know that instance (any more).',
    'UNAUTHORIZED': 'Novita refused the API key: check the credential on the settings page.',
    'FORBIDDEN': 'The Novita API key may not do that.',
    'VALIDATOR_PARAM': 'Novita refused the launch parameters',
    'IMAGE_NOT_FOUND': 'Novita cannot find that image.',
    'RATE_LIMIT_EXCEEDED': 'Novita is rate-limiting us; retrying later.',
}


class NovitaProvider:
    name = 'novita'
    capabilities = Capabilities(label='Novita AI', short_label='Novita', needs_credential=True, rents_gpus=True,
                                spot=True, job_prefix=INSTANCE_PREFIX, lists_jobs=True, gpu_metrics=True, logs=True,
                                pause_freezes=False, launch_fields=('product_id', 'image'))

    def __init__(self, api_key: str, base_url: str = 'https://api.novita.ai', *, retry_delay_s: float = 0.5) -> None:
        # a key an HTTP header cannot carry fails every call with a message, not an exception from deep in httpx
        self._key_problem = _key_problem(api_key)
        headers = {} if self._key_problem else {'Authorization': f'Bearer {api_key}'}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip('/'), timeout=TIMEOUT_S, headers=headers)
        self._logs_client = httpx.AsyncClient(timeout=TIMEOUT_S)
        self._log_addresses: dict[str, str] = {}
        self._products: tuple[float, list[Product]] | None = None
        self.retry_delay_s = retry_delay_s

    @classmethod
    def connect(cls, config: Settings, secret: str) -> NovitaProvider:
        return cls(secret, config.novita_base_url)

    async def products(self) -> list[Product]:
        """The catalogue, fetched at most every PRODUCTS_TTL_S: a launch checks the budget and then launches, and
        both need the price."""
        if self._products is not None and time.monotonic() - self._products[0] < PRODUCTS_TTL_S:
            return self._products[1]
        answer = await self._call('GET', f'{API}/products')
        products = [Product(id=str(p['id']), name=str(p.get('name', p['id'])),
                        price_per_hour=_number(p.get('price')) / 100_000, available=bool(p.get('availableDeploy')),
                        spot_price_per_hour=_number(p['spotPrice']) / 100_000 if p.get('spotPrice') else None,
                        regions=tuple(p.get('regions') or ())) for p in answer.get('data', [])]
        self._products = (time.monotonic(), products)
        return products

    async def launch(self, spec: JobSpec) -> str:
        body = {'name': spec.name, 'productId': spec.product_id, 'gpuNum': spec.gpu_count or 1,
                'rootfsSize': spec.disk_gb, 'imageUrl': spec.image, 'kind': 'gpu', 'command': spec.command,
                'envs': [{'key': k, 'value': v} for k, v in spec.envs.items()],
                'billingMode': 'spot' if spec.spot else 'onDemand'}
        if spec.cluster:
            body['clusterId'] = spec.cluster
        # a create whose answer was lost (a timeout, a 5xx) may have made the instance all the same, and creating again
        # would make a second that bills too: it is not repeated, and the next launch finds it here by its name
        made = next((ref for ref, state in (await self.instances()).items()
                     if state.name == spec.name and state.phase != Phase.GONE), None)
        if made is not None:
            return made
        answer = await self._call('POST', f'{API}/gpu/instance/create', json=body, repeatable=False)
        return str(answer['id'])

    async def states(self, refs: list[str]) -> dict[str, JobState]:
        found = await self.instances()
        return {ref: found.get(ref) or JobState(ref=ref, phase=Phase.GONE, raw='removed') for ref in refs}

    async def jobs(self) -> dict[str, JobState]:
        return await self.instances()

    async def instances(self) -> dict[str, JobState]:
        """Every instance of the account, one list call per page."""
        found: dict[str, JobState] = {}
        page = 1
        while True:
            answer = await self._call('GET', f'{API}/gpu/instances', params={'pageSize': PAGE_SIZE, 'pageNum': page})
            items = answer.get('instances') or []
            for item in items:
                found[str(item['id'])] = _state(item)
            if not items or len(found) >= _number(answer.get('total')):
                return found
            page += 1

    async def pause(self, ref: str) -> None:
        await self._lifecycle('stop', ref)

    async def resume(self, ref: str) -> None:
        await self._lifecycle('start', ref)

    async def stop(self, ref: str) -> None:
        await self._lifecycle('stop', ref)

    async def terminate(self, ref: str) -> None:
        await self._lifecycle('delete', ref)

    async def logs(self, ref: str, cursor: str = '') -> LogChunk:
        """The instance log's tail, from the address its details name, fetched as a snapshot; the lines after the
        ones `cursor` (a digest of the last lines read) ends with."""
        address = self._log_addresses.get(ref)
        if address is None:
            details = await self._call('GET', f'{API}/gpu/instance', params={'instanceId': ref})
            address = (details.get('connectComponentLog') or {}).get('instanceLogAddress') or ''
            if not address:
                return LogChunk(lines=[], cursor=cursor)  # not started yet: no log to read
            self._log_addresses[ref] = address
        try:  # the address is a capability of its own: our API key stays with the API
            response = await self._logs_client.get(address, params={'follow': 0, 'sse': 0, 'tail': LOG_TAIL})
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise ProviderError(f'Could not read the Novita instance log: {type(error).__name__}',
                                retryable=True) from error
        return _after(response.text.splitlines(), cursor)

    async def gpu_usage(self, ref: str, since: float) -> list[UsageSample]:
        """GPU utilisation and GPU memory (percent, averaged over the instance's GPUs) from the metrics API."""
        answer = await self._call('GET', METRICS, params={'instanceId': ref, 'startTime': int(since),
                                                         'endTime': int(time.time()), 'interval': METRICS_INTERVAL_S})
        samples = []
        for field, name in (('gpuUtilization', 'gpu_utilization'), ('gpuMemUtilization', 'gpu_memory_utilization')):
            for item in (answer.get(field) or {}).get('avg') or []:
                samples.append(UsageSample(name=name, time=_number(item.get('timestamp')),
                                           value=_number(item.get('value'))))
        return samples

    async def _lifecycle(self, action: str, ref: str) -> None:
        """Idempotent: an instance that is gone, or already where we want it, is fine."""
        try:
            await self._call('POST', f'{API}/gpu/instance/{action}', json={'instanceId': ref})
        except ProviderError as error:
            if error.name == 'RESOURCE_NOT_FOUND' or (error.name == 'CONFLICT' and action != 'delete'):
                return
            raise

    async def _call(self, method: str, path: str, *, repeatable: bool = True, **kwargs: Any) -> dict[str, Any]:
        """One API call; a failure is retried with backoff when `repeatable` (a 429 always: Novita did nothing)."""
        if self._key_problem:
            raise ProviderError(self._key_problem, name='BAD_KEY')
        delay = self.retry_delay_s
        for attempt in range(RETRIES + 1):
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.HTTPError as error:
                if attempt == RETRIES or not repeatable:
                    raise ProviderError(f'Novita unreachable: {type(error).__name__}', retryable=True) from error
            else:
                if response.status_code < 400:
                    return response.json() if response.content else {}
                name, message = _error(response)
                if response.status_code >= 500 and (attempt == RETRIES or not repeatable):
                    raise ProviderError(f'Novita unreachable: HTTP {response.status_code} {message}'.strip(),
                                        name=name, retryable=True)
                if response.status_code != 429 and response.status_code < 500 or attempt == RETRIES:
                    raise ProviderError(_explain(name, message), name=name, retryable=response.status_code == 429)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        raise AssertionError('unreachable')


def _key_problem(api_key: str) -> str:
    """Why the key cannot be sent in a header ('' when it can); never quotes the key."""
    if not api_key.isascii() or not api_key.isprintable() or any(c.isspace() for c in api_key):
        return ('The Novita API key contains a character an HTTP header cannot carry (keys are printable ASCII, '
                'without spaces): enter it again on the settings page.')
    return ''


def _state(item: dict[str, Any]) -> JobState:
    raw = str(item.get('status', ''))
    message = (item.get('statusError') or {}).get('message') or ''
    notice = item.get('spotStatus') in RECLAIM_NOTICES
    if notice:
        message = f'Spot instance {item["spotStatus"]}: Novita will reclaim it soon. {message}'.strip()
    return JobState(ref=str(item['id']), phase=PHASES.get(raw, Phase.UNKNOWN), raw=raw or 'unknown',
                    message=message, billing=raw in BILLED, name=str(item.get('name', '')), reclaim_notice=notice,
                    reclaim_at=_epoch(item.get('spotReclaimTime')) if notice else None)


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return '', response.text[:200]
    name = body.get('reason') or body.get('code') or body.get('error') or ''
    return str(name), str(body.get('message') or body.get('error') or '')


def _explain(name: str, message: str) -> str:
    known = MESSAGES.get(name)
    if known and name == 'VALIDATOR_PARAM':
        return f'{known}: {message}'
    return known or f'Novita said {name or "an error"}: {message}'


def _after(lines: list[str], cursor: str) -> LogChunk:
    """The lines of a tail snapshot that follow the last lines read before (matched by their digest). When they are
    not in the snapshot (the first read, or more lines came than the tail holds), all of it is new."""
    start = 0
    if cursor:
        for end in range(len(lines), 0, -1):
            if _digest(lines[max(0, end - CURSOR_LINES):end]) == cursor:
                start = end
                break
    new = lines[start:]
    return LogChunk(lines=new, cursor=_digest(lines[-CURSOR_LINES:]) if lines else cursor)


def _digest(lines: list[str]) -> str:
    return hashlib.sha256('\n'.join(lines).encode()).hexdigest()[:32]


def _epoch(value: Any) -> float | None:
    """A Novita time (Unix seconds as a string, "0" for none yet: reference 1.6) as epoch seconds, None for none.
    Its units are documented loosely: a value too large for seconds is read as milliseconds."""
    seconds = _number(value)
    if seconds <= 0:
        return None
    return seconds / 1000 if seconds > 1e11 else seconds


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
