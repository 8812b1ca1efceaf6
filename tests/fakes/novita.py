"""A fake of Novita AI's GPU instance API (v1), as a real HTTP server, with the quirks the reference documents.

Numbers arrive as strings, prices in 1/100,000 USD per GPU-hour, business errors are HTTP 400 with a name,
and rate limits are 429. Instances move toCreate -> creating -> pulling -> running, one state per `advance()`
(or every ADVANCE_EVERY_S on a clock of its own once `auto_advance` is set, so that, as on the real cloud, states
change between two polls rather than at them); `exit(id)` ends an instance's command (status `exited`).
Faults are switched on by the test: `outage` (503s), `rate_limit_next` (that many 429s), `fail_create` (a name).
A spot instance is warned of its reclaim with `reclaim(id, at)`: `spotStatus` turns `notified` and `spotReclaimTime`
says when, as a string of Unix seconds ("0" while there is no notice), as the reference documents; an instance not
on spot capacity has an empty `spotStatus`, the quirk the SDK papers over.
Each instance has a log (`instance.log`, served at the address its details name) and GPU samples while it runs.
Each API key is an account of its own (API_KEY is the account 'team'; `add_account(key)` makes another): a key
sees, lists and controls only its own account's instances, as on Novita.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

BASE = '/gpu-instance/openapi/v1'
API_KEY = 'nv-test-key-0000-1234'
TEAM = 'team'  # the account API_KEY opens
PRODUCTS = [
    {'id': '4090.16c96g.v2', 'name': 'RTX 4090 24GB', 'price': '67000', 'spotPrice': '35000', 'availableDeploy': True,
     'regions': ['us-ca-nas-2'], 'inventoryState': 'normal', 'cpuPerGpu': '16', 'memoryPerGpu': '96'},
    {'id': 'h100.sxm.v1', 'name': 'H100 SXM 80GB', 'price': 145000, 'spotPrice': '73000', 'availableDeploy': False,
     'regions': [], 'inventoryState': 'none', 'cpuPerGpu': 24, 'memoryPerGpu': '192'},
]
LIFECYCLE = ['toCreate', 'creating', 'pulling', 'running']
ADVANCE_EVERY_S = 0.25
BILLED = {'pulling', 'running', 'toStop', 'stopping', 'starting', 'toStart'}


@dataclass
class Instance:
    id: str
    name: str
    product_id: str
    gpu_num: int
    image: str
    command: str
    envs: list[dict[str, str]]
    billing_mode: str
    status: str = 'toCreate'
    spot_status: str = ''  # '' unless spot; then running | notified | reclaiming | terminated
    spot_reclaim_time: float = 0.0  # epoch seconds of the reclaim Novita announced; 0: none
    billed_seconds: float = 0.0
    billing_since: float | None = None
    created_at: float = field(default_factory=time.time)
    log: list[str] = field(default_factory=list)  # what the container printed
    log_host: str = ''
    created_with: dict[str, Any] = field(default_factory=dict)  # the create call's body, as sent
    running_since: float | None = None  # GPU samples exist while it runs
    account: str = TEAM  # whose instance it is: only that account's key sees it

    def set_status(self, status: str) -> None:
        now = time.time()
        if self.billing_since is not None:
            self.billed_seconds += now - self.billing_since
            self.billing_since = None
        self.status = status
        if status in BILLED:
            self.billing_since = now
        self.running_since = (self.running_since or now) if status == 'running' else None

    def cost(self) -> float:
        seconds = self.billed_seconds + (time.time() - self.billing_since if self.billing_since else 0)
        key = 'spotPrice' if self.billing_mode == 'spot' else 'price'
        price = next(int(p[key]) for p in PRODUCTS if p['id'] == self.product_id) / 100_000
        return price * self.gpu_num * seconds / 3600

    def gpu_samples(self, start: float, end: float, every_s: float) -> list[dict[str, str]]:
        """Utilisation on a grid of `every_s` while running; values as strings, like the rest of the API."""
        if self.running_since is None:
            return []
        first = max(start, self.running_since)
        stamps = [every_s * k for k in range(int(first // every_s) + 1, int(end // every_s) + 1)]
        return [{'timestamp': str(int(t)), 'value': f'{90 + int(t) % 7}.5'} for t in stamps]

    def as_json(self) -> dict[str, Any]:
        return {'id': self.id, 'name': self.name, 'clusterId': 'us-ca-nas-2', 'clusterName': 'US-CA-02',
                'status': self.status, 'imageUrl': self.image, 'command': self.command, 'productId': self.product_id,
                'productName': next(p['name'] for p in PRODUCTS if p['id'] == self.product_id),
                'gpuNum': str(self.gpu_num), 'cpuNum': '16', 'memory': '96', 'rootfsSize': 60, 'kind': 'gpu',
                'envs': self.envs, 'billingMode': self.billing_mode, 'spotStatus': self.spot_status,
                'spotReclaimTime': str(int(self.spot_reclaim_time)), 'statusError': {'state': '', 'message': ''},
                'endTime': '-1',
                'sshPassword': 'secret-do-not-log', 'createdAt': str(int(self.created_at)),
                'connectComponentLog': {'systemLogAddress': f'{self.log_host}/logs/{self.id}/system',
                                        'instanceLogAddress': f'{self.log_host}/logs/{self.id}/instance',
                                        'isRunning': self.status == 'running'}}


class FakeNovita:
    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}  # every account's, by id (ids are unique across accounts)
        self.accounts: dict[str, str] = {API_KEY: TEAM}  # API key -> account
        self.calls: list[str] = []
        self.outage = False
        self.rate_limit_next = 0
        self.fail_create = ''
        self.lose_create_answers = 0  # creates that make the instance but answer 504, as if the answer was lost
        self.metrics_every_s = 1.0  # Novita samples every 15 s; tests go faster, as with auto_advance
        self._auto = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # bound here, to a port the system picks: a port found free and bound later may be another process's by then
        self._socket = socket.create_server(('127.0.0.1', 0))
        self.port = self._socket.getsockname()[1]
        self.url = f'http://127.0.0.1:{self.port}'
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level='error'))
        self._thread = threading.Thread(target=self._server.run, kwargs={'sockets': [self._socket]}, daemon=True)

    def start(self) -> FakeNovita:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._auto.clear()
        self._server.should_exit = True
        self._thread.join(5)
        self._socket.close()

    @property
    def auto_advance(self) -> bool:
        return self._auto.is_set()

    @auto_advance.setter
    def auto_advance(self, on: bool) -> None:
        if on and not self._auto.is_set():
            self._auto.set()
            threading.Thread(target=self._advance_on_a_clock, daemon=True).start()
        elif not on:
            self._auto.clear()

    def _advance_on_a_clock(self) -> None:
        while self._auto.is_set():
            time.sleep(ADVANCE_EVERY_S)
            self.advance()

    def advance(self) -> None:
        """Every instance one step further along toCreate -> creating -> pulling -> running."""
        with self._lock:
            for instance in self.instances.values():
                if instance.status in LIFECYCLE[:-1]:
                    instance.set_status(LIFECYCLE[LIFECYCLE.index(instance.status) + 1])
                elif instance.status == 'starting':
                    instance.set_status('running')
                elif instance.status == 'stopping':
                    instance.set_status('exited')
                elif instance.status == 'removing':
                    instance.set_status('removed')

    def exit(self, instance_id: str) -> None:
        """The instance's command ended (the container stopped)."""
        self.instances[instance_id].set_status('exited')

    def reclaim(self, instance_id: str, at: float | None = None, status: str = 'notified') -> None:
        """Novita's notice that it takes a spot instance back (`at`: when, epoch seconds; an hour from now when
        None, as its spot terms promise)."""
        instance = self.instances[instance_id]
        instance.spot_status = status
        instance.spot_reclaim_time = time.time() + 3600 if at is None else at

    def live(self, account: str | None = None) -> list[Instance]:
        """Instances that still exist (and may bill), of every account or of one."""
        return [i for i in self.instances.values() if i.status not in {'removing', 'removed'}
                and account in {None, i.account}]

    def add_account(self, api_key: str, account: str) -> str:
        """Another Novita account, opened by `api_key`; its name."""
        self.accounts[api_key] = account
        return account

    def add_orphan(self, name: str, account: str = TEAM) -> str:
        instance_id = f'orphan{next(self._ids)}'
        self.instances[instance_id] = Instance(instance_id, name, PRODUCTS[0]['id'], 1, 'img', '', [], 'onDemand',
                                               status='running', account=account)
        return instance_id

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware('http')
        async def faults(request: Request, call_next):  # type: ignore[no-untyped-def]
            self.calls.append(f'{request.method} {request.url.path}')
            if self.outage:
                return JSONResponse({'message': 'service unavailable'}, status_code=503)
            if request.url.path.startswith('/logs/'):  # log addresses need no key (and must not get ours)
                if request.headers.get('authorization'):
                    return _error(400, 'UNEXPECTED_AUTH', 'log addresses take no API key')
                return await call_next(request)
            scheme, _, key = request.headers.get('authorization', '').partition(' ')
            if scheme != 'Bearer' or key not in self.accounts:
                return _error(401, 'UNAUTHORIZED', 'invalid api key')
            request.state.account = self.accounts[key]
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return _error(429, 'RATE_LIMIT_EXCEEDED', 'too many requests')
            return await call_next(request)

        @app.get(f'{BASE}/products')
        async def products() -> dict:
            return {'data': PRODUCTS}

        @app.post(f'{BASE}/gpu/instance/create')
        async def create(request: Request) -> Any:
            body = await request.json()
            if self.fail_create:
                return _error(400, self.fail_create, 'refused by the fake')
            product = next((p for p in PRODUCTS if p['id'] == body.get('productId')), None)
            if product is None or not body.get('imageUrl') or not 1 <= int(body.get('gpuNum', 0)) <= 8:
                return _error(400, 'VALIDATOR_PARAM', 'productId, imageUrl and gpuNum 1..8 are required')
            if not product['availableDeploy']:
                return _error(400, 'INSUFFICIENT_RESOURCE', 'insufficient resource')
            instance_id = f'{next(self._ids):08x}'
            self.instances[instance_id] = Instance(instance_id, body.get('name', ''), product['id'],
                                                   int(body['gpuNum']), body['imageUrl'], body.get('command', ''),
                                                   body.get('envs', []), body.get('billingMode', 'onDemand'),
                                                   log_host=self.url, created_with=body,
                                                   account=request.state.account,
                                                   spot_status='running' if body.get('billingMode') == 'spot' else '')
            if self.lose_create_answers > 0:
                self.lose_create_answers -= 1
                return _error(504, 'GATEWAY_TIMEOUT', 'the answer was lost on its way')
            return {'id': instance_id}

        @app.get(f'{BASE}/gpu/instances')
        async def instances(request: Request, pageSize: int = 10, pageNum: int = 1) -> dict:  # noqa: N803 (Novita's)
            visible = [i for i in self.instances.values()
                       if i.status != 'removed' and i.account == request.state.account]
            page = visible[(pageNum - 1) * pageSize:pageNum * pageSize]
            return {'instances': [i.as_json() for i in page], 'total': len(visible)}

        @app.get(f'{BASE}/gpu/instance')
        async def instance(request: Request, instanceId: str) -> Any:  # noqa: N803
            found = self._of(request, instanceId)
            if found is None or found.status == 'removed':
                return _error(400, 'RESOURCE_NOT_FOUND', 'instance not found')
            return found.as_json()

        @app.get('/logs/{instance_id}/instance')
        async def instance_log(instance_id: str, tail: int = 100, follow: int = 1) -> Any:
            found = self.instances.get(instance_id)
            if found is None or found.status == 'removed' or follow:  # a stream when followed: not for us
                return PlainTextResponse('not found', status_code=404)
            return PlainTextResponse(''.join(line + '\n' for line in found.log[-tail:]))

        @app.get('/openapi/v1/metrics/gpu/instance')
        async def metrics(request: Request, instanceId: str, startTime: int | None = None,  # noqa: N803
                          endTime: int | None = None, interval: int = 15) -> Any:  # noqa: N803
            found = self._of(request, instanceId)
            if found is None:
                return _error(400, 'RESOURCE_NOT_FOUND', 'instance not found')
            end = float(endTime or time.time())
            samples = found.gpu_samples(float(startTime or end - 60), end, self.metrics_every_s)
            cpu = [{'timestamp': x['timestamp'], 'value': '12.0'} for x in samples]
            return {'cpuUtilization': cpu, 'memUtilization': cpu, 'rootDiskUtilization': cpu,
                    'gpuUtilization': {'avg': samples, 'gpuIds': [{'gpuId': '0', 'items': samples}]},
                    'gpuMemUtilization': {'avg': [{**x, 'value': '41.0'} for x in samples],
                                          'gpuIds': [{'gpuId': '0', 'items': samples}]}}

        for action, (allowed, target) in {
            'stop': ({'running', 'pulling'}, 'stopping'), 'start': ({'exited'}, 'starting'),
            'delete': (None, 'removing'),
        }.items():
            app.post(f'{BASE}/gpu/instance/{action}')(self._lifecycle(allowed, target))
        return app

    def _lifecycle(self, allowed: set[str] | None, target: str):  # type: ignore[no-untyped-def]
        async def handler(request: Request) -> Any:
            found = self._of(request, (await request.json()).get('instanceId', ''))
            if found is None or found.status == 'removed':
                return _error(400, 'RESOURCE_NOT_FOUND', 'instance not found')
            if allowed is not None and found.status not in allowed:
                return _error(400, 'CONFLICT', f'invalid state change from {found.status}')
            found.set_status(target)
            return {}
        return handler

    def _of(self, request: Request, instance_id: str) -> Instance | None:
        """The instance, if it is in the calling key's account: another account's is not found, as on Novita."""
        found = self.instances.get(instance_id)
        return found if found is not None and found.account == request.state.account else None


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({'code': status, 'reason': reason, 'message': message, 'metadata': {}}, status_code=status)
