"""Report a training run to Trainboard. One file, standard library only, Python 3.8+.

    import trainboard
    run = trainboard.init()                  # TRAINBOARD_URL, TRAINBOARD_RUN_ID, TRAINBOARD_RUN_TOKEN
    # or: run = trainboard.init(url='http://host:8080', api_key='tb_...', project='vision', name='resnet')
    with run.step('training', 'epoch 1 of 3'):
        for step in range(1000):
            run.log({'loss': loss}, step=step)
            run.progress(step + 1, 1000)
    run.save('checkpoints/last.ckpt')         # an artifact: uploaded, checked (size, SHA-256), on the run page
    run.finish()                              # also at exit; 'failed' on an uncaught exception

Points are batched in a background thread (sent every second, or at once when 1,000 are waiting) and retried
with backoff. While the server cannot be reached, batches go to a bounded spool on disk and are sent again
later, even by the next process that reports to the same run. The server keeps each (metric, step) once, so a
batch sent twice never doubles a point. Nothing here blocks training for longer than `finish(timeout=...)`.
"""

import atexit
import concurrent.futures
import contextlib
import hashlib
import json
import math
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

__all__ = ['ArtifactError', 'Run', 'TrainboardError', 'init']
__version__ = '0.1.0'

FLUSH_EVERY_S = 1.0
MAX_BATCH = 1000
SPOOL_MAX_BYTES = 256 * 1024 * 1024
RETRIES_BEFORE_SPOOL = 3
TIMEOUT_S = 10.0
UPLOAD_THREADS = 8  # parts of a large artifact sent at once
UPLOAD_TIMEOUT_S = 300.0


def init(url=None, *, run_id=None, token=None, api_key=None, project=None, name=None, config=None,
         spool_dir=None):
    """Connect to a run: the one named by the TRAINBOARD_* environment (as launched runs have), or a new external
    run made with an API key in `project` (its id or name)."""
    url = (url or os.environ.get('TRAINBOARD_URL') or '').rstrip('/')
    if not url:
        raise ValueError('Set TRAINBOARD_URL or pass url=')
    run_id = run_id or os.environ.get('TRAINBOARD_RUN_ID')
    token = token or os.environ.get('TRAINBOARD_RUN_TOKEN')
    if not (run_id and token):
        api_key = api_key or os.environ.get('TRAINBOARD_API_KEY')
        if not (api_key and project):
            raise ValueError('Set TRAINBOARD_RUN_ID and TRAINBOARD_RUN_TOKEN, or pass api_key= and project=')
        created = _create_run(url, api_key, project, name or os.path.basename(sys.argv[0] or 'run'), config or {})
        run_id, token = created['id'], created['token']
    return Run(url, int(run_id), token, spool_dir=spool_dir)


class Run:
    def __init__(self, url, run_id, token, *, spool_dir=None, flush_every=FLUSH_EVERY_S):
        self.url, self.id, self._token = url.rstrip('/'), run_id, token
        self._flush_every = flush_every
        self._lock = threading.Lock()
        self._points, self._logs, self._steps = [], [], []
        self._progress = None
        self._status = None
        self._finished = False
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stop_requested = False
        self.control = None  # what the server last asked of this job: 'stop', 'pause' or None
        self._on_control = []
        self._spool = _Spool(spool_dir or os.path.join(_cache_dir(), 'spool', f'run-{run_id}'))
        self._thread = threading.Thread(target=self._loop, name=f'trainboard-run-{run_id}', daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)
        self._previous_hook = sys.excepthook
        sys.excepthook = self._on_exception

    # --- what training code calls ----------------------------------------------------------------------------------

    def log(self, metrics, step=None, time_=None):
        """Record metric values at a step (default: one past the last step logged)."""
        if step is None:
            step = self._next_step
        stamp = time.time() if time_ is None else time_
        with self._lock:
            for name, value in metrics.items():
                self._points.append({'name': name, 'step': int(step), 'value': _value(value), 'time': stamp})
            self._next_step = int(step) + 1
            full = len(self._points) >= MAX_BATCH
        if full:
            self._wake.set()

    _next_step = 0

    def progress(self, step, total_steps):
        with self._lock:
            self._progress = {'step': int(step), 'total_steps': int(total_steps)}

    def step(self, name, description=None):
        """`with run.step('evaluation'): ...` marks a step running, then succeeded (or failed on an exception)."""
        return _Step(self, name, description)

    def print(self, *lines):
        """Send lines to the run's log on the run page."""
        with self._lock:
            self._logs.extend(str(line) for line in lines)

    def save(self, path, name=None, type='checkpoint', retries=3):
        """Upload the file at `path` as the run's artifact `name` (default: the file's name) of `type` (checkpoint,
        model, dataset, eval, log or file). Blocks until the server has checked what arrived (its size and SHA-256)
        and returns the artifact. Saving a name again replaces that artifact; a save that was interrupted and is
        tried again (here, up to `retries` times, or by a later call) never makes a second one."""
        name = name or os.path.basename(path)
        for attempt in range(retries + 1):
            try:
                return _Upload(self, path, name, type).send()
            except _Retry as error:
                if attempt == retries:
                    raise ArtifactError(f'could not save {name}: {error}') from None
                _warn(f'saving {name} failed ({error}); trying again')
                time.sleep(min(2 ** attempt, 30))

    def should_stop(self):
        """True once someone asked this run to stop: checkpoint and return."""
        return self._stop_requested

    def on_control(self, callback):
        """Call `callback(action)` when someone asks this run to 'stop' or 'pause' (from the SDK's own thread): save
        a checkpoint there. The job is stopped, or frozen, once the server's grace period is over."""
        self._on_control.append(callback)
        return callback

    def finish(self, state='succeeded', message='', timeout=30.0):
        """Send everything still waiting and mark the run finished; waits at most `timeout` seconds."""
        if self._finished:
            return
        self._finished = True
        with self._lock:
            self._status = {'state': state, 'message': message}
        self._idle.clear()
        self._wake.set()
        if not self._idle.wait(timeout):
            _warn(f'could not send everything within {timeout:.0f} s; the rest is spooled in {self._spool.path} '
                  f'and will be sent by the next trainboard.init() for run {self.id}')

    # --- the background sender -------------------------------------------------------------------------------------

    def _loop(self):
        while True:
            self._wake.wait(self._flush_every)
            self._wake.clear()
            try:
                self._send_spool()
                while self._send_pending():
                    pass
            except Exception:  # never let a bug here kill the sender
                _warn('sender error: ' + traceback.format_exc(limit=3))
            with self._lock:
                empty = not (self._points or self._logs or self._steps or self._progress or self._status)
            if empty and self._finished and not self._spool.has_batches():
                self._idle.set()
                return
            if empty and self._finished:
                time.sleep(0.5)  # the spool is still waiting for the server: try again soon
                self._wake.set()

    def _send_pending(self):
        """Send one batch of what is waiting; True if there may be more."""
        with self._lock:
            if not (self._points or self._logs or self._steps or self._progress or self._status):
                return False
            batch = {}
            if self._points:
                batch['metrics'], self._points = self._points[:MAX_BATCH], self._points[MAX_BATCH:]
            if self._logs:
                batch['logs'], self._logs = self._logs, []
            if self._steps:
                batch['steps'], self._steps = self._steps, []
            if self._progress:
                batch['progress'], self._progress = self._progress, None
            if self._status and not self._points:  # the end, once every point has gone
                batch['status'], self._status = self._status, None
            more = bool(self._points or self._status)
        if self._spool.has_batches():  # keep order: behind what is already waiting on disk
            self._spool.add(batch)
            return more
        try:
            sent = self._post(batch)
        except Exception:  # whatever went wrong, the batch is kept
            _warn('sender error: ' + traceback.format_exc(limit=3))
            sent = False
        if not sent:
            self._spool.add(batch)
        return more

    def _send_spool(self):
        for path, batch in self._spool.batches():
            if not self._post(batch, retries=1):
                return
            self._spool.remove(path)

    def _heard(self, action):
        """The server's answer carries what it asks of the job now; a new request goes to the callbacks once."""
        if action not in ('stop', 'pause'):
            action = None
        if action == self.control:
            return
        self.control = action
        if action == 'stop':
            self._stop_requested = True
        for callback in list(self._on_control) if action else []:
            try:
                callback(action)
            except Exception:  # the training goes on; say why the checkpoint may be missing
                _warn('an on_control callback failed:\n' + traceback.format_exc())

    def _post(self, batch, retries=RETRIES_BEFORE_SPOOL):
        """True when the server took the batch (or refused it for good); False to keep it for later."""
        body = json.dumps(batch).encode()
        delay = 0.5
        for attempt in range(retries):
            request = urllib.request.Request(
                f'{self.url}/api/v1/runs/{self.id}/report', data=body, method='POST',
                headers={'Content-Type': 'application/json', 'Authorization': 'Bearer ' + self._token})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    try:
                        answer = json.loads(response.read() or b'{}')
                    except ValueError:
                        answer = {}
                    self._heard(((answer or {}).get('control') or {}).get('action'))
                    return True
            except urllib.error.HTTPError as error:
                if error.code in (408, 429) or error.code >= 500:
                    pass  # worth another try
                else:
                    _warn(f'the server refused a report ({error.code}): {_detail(error)}')
                    return True  # retrying cannot help; drop it
            except (urllib.error.URLError, OSError):
                pass
            if attempt + 1 < retries:
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
        return False

    def _at_exit(self):
        if not self._finished:
            self.finish()

    def _on_exception(self, kind, value, tb):
        if not self._finished and not issubclass(kind, KeyboardInterrupt):
            self.finish('failed', ''.join(traceback.format_exception_only(kind, value)).strip()[:2000])
        self._previous_hook(kind, value, tb)


class _Step:
    def __init__(self, run, name, description):
        self.run, self.name, self.description = run, name, description

    def __enter__(self):
        self._report('running')
        return self

    def __exit__(self, kind, value, tb):
        self._report('failed' if kind else 'succeeded')
        return False

    def _report(self, status):
        step = {'name': self.name, 'status': status}
        if self.description is not None:
            step['description'] = self.description
        with self.run._lock:
            self.run._steps.append(step)
        self.run._wake.set()


class TrainboardError(RuntimeError):
    """The server refused what was asked (a wrong API key, a project you may not see): its own sentence, and the
    HTTP status as `status` (None when it could not be reached)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class _NoProject(TrainboardError, ValueError):
    """No project of that name (a ValueError too, as it was before TrainboardError)."""


class ArtifactError(TrainboardError):
    """An artifact the server refused (a bad name, too large) or found damaged; the message says which."""


class _Retry(Exception):
    """A failure that trying again may fix: the network, or a server error."""


class _Upload:
    """One try at saving a file: announce it, send its bytes (to this server, or straight to the bucket, in parts
    several at once), and complete it with the SHA-256 and each part's MD5, all taken in the one read of the file."""

    def __init__(self, run, path, name, type):
        self.run, self.path, self.name, self.type = run, path, name, type
        self.size = os.path.getsize(path)

    def send(self):
        started = self._call('POST', f'/api/v1/runs/{self.run.id}/artifacts',
                             {'name': self.name, 'type': self.type, 'size_bytes': self.size})
        upload = started['upload']
        if upload['kind'] == 'local':
            sha256, parts = self._local(self.run.url + upload['url']), []
        elif upload['kind'] == 'single':
            sha256, parts = self._single(upload['url'])
        else:
            sha256, parts = self._multipart(upload['part_size'], upload['parts'])
        done = self._call('POST', started['complete_url'], {'sha256': sha256, 'parts': parts})
        if done['status'] != 'ready':
            raise ArtifactError(f'{self.name} was not stored: {done["error"]}')
        return done

    def _local(self, url):
        sha256 = hashlib.sha256()

        def chunks():
            with open(self.path, 'rb') as file:
                left = self.size
                while left > 0 and (chunk := file.read(min(4 * 1024 * 1024, left))):
                    sha256.update(chunk)
                    left -= len(chunk)
                    yield chunk
        self._put(url, chunks(), {'Authorization': 'Bearer ' + self.run._token,
                                  'Content-Length': str(self.size)})
        return sha256.hexdigest()

    def _single(self, url):
        with open(self.path, 'rb') as file:
            data = file.read(self.size)
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324 (what the bucket's ETag is)
        etag = self._put(url, data, {})
        return hashlib.sha256(data).hexdigest(), [{'number': 1, 'md5': md5, 'etag': etag}]

    def _multipart(self, part_size, parts):
        sha256, sent, waiting = hashlib.sha256(), [], []
        room = threading.BoundedSemaphore(UPLOAD_THREADS * 2)  # parts read ahead of the senders, in memory
        with concurrent.futures.ThreadPoolExecutor(UPLOAD_THREADS) as pool, open(self.path, 'rb') as file:
            for part in parts:
                room.acquire()
                data = file.read(part_size)
                sha256.update(data)
                future = pool.submit(self._part, part, data)
                future.add_done_callback(lambda _future: room.release())
                waiting.append(future)
            for future in waiting:
                sent.append(future.result())
        return sha256.hexdigest(), sent

    def _part(self, part, data):
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324 (what the bucket's ETag is)
        for attempt in range(3):
            try:
                return {'number': part['number'], 'md5': md5, 'etag': self._put(part['url'], data, {})}
            except _Retry:
                if attempt == 2:
                    raise
                time.sleep(1 + attempt)

    def _put(self, url, data, headers):
        request = urllib.request.Request(url, data=data, method='PUT',
                                         headers={'Content-Type': 'application/octet-stream', **headers})
        return self._open(request, lambda response: response.headers.get('ETag', '').strip('"'))

    def _call(self, method, path, body):
        request = urllib.request.Request(self.run.url + path, data=json.dumps(body).encode(), method=method,
                                         headers={'Content-Type': 'application/json',
                                                  'Authorization': 'Bearer ' + self.run._token})
        return self._open(request, lambda response: json.loads(response.read()))

    def _open(self, request, read):
        try:
            with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_S) as response:
                return read(response)
        except urllib.error.HTTPError as error:
            said = _detail(error)  # the server's own sentence ("The S3 bucket ... does not exist ..."), if it gave one
            if error.code >= 500 or error.code == 429:
                raise _Retry(said or f'HTTP {error.code}') from None
            raise ArtifactError(said or f'{self.name}: HTTP {error.code}') from None
        except (urllib.error.URLError, OSError) as error:
            raise _Retry(str(getattr(error, 'reason', error))) from None


class _Spool:
    """Batches the server has not taken yet, one JSON file each, oldest first, at most SPOOL_MAX_BYTES."""

    def __init__(self, path):
        self.path = path
        self._counter = 0

    def has_batches(self):
        return bool(self._files())

    def add(self, batch):
        os.makedirs(self.path, exist_ok=True)
        files = self._files()
        while files and self._size(files) > SPOOL_MAX_BYTES:
            _warn('spool full: dropping the oldest batch ' + files[0])
            self.remove(os.path.join(self.path, files.pop(0)))
        self._counter += 1
        name = f'{time.time():017.6f}-{self._counter:06d}.json'
        temporary = os.path.join(self.path, name + '.tmp')
        with open(temporary, 'w') as file:
            json.dump(batch, file)
        os.replace(temporary, os.path.join(self.path, name))  # whole files only, even if we crash here

    def batches(self):
        for name in self._files():
            path = os.path.join(self.path, name)
            try:
                with open(path) as file:
                    yield path, json.load(file)
            except (OSError, ValueError):
                self.remove(path)

    def remove(self, path):
        with contextlib.suppress(OSError):
            os.remove(path)

    def _files(self):
        try:
            return sorted(name for name in os.listdir(self.path) if name.endswith('.json'))
        except OSError:
            return []

    def _size(self, files):
        return sum(os.path.getsize(os.path.join(self.path, name)) for name in files)


def _create_run(url, api_key, project, name, config):
    headers = {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + api_key}
    project_id = project
    if not str(project).isdigit():
        listed = _ask(urllib.request.Request(url + '/api/v1/projects', headers=headers), url)
        matches = [p['id'] for p in listed if p['name'] == project]
        if not matches:
            raise _NoProject(f'no project named {project!r} that this API key may see; make it first (the '
                                  f'projects page, or POST /api/v1/projects), or pass its id')
        project_id = matches[0]
    body = json.dumps({'name': name, 'provider': 'external', 'config': config}).encode()
    request = urllib.request.Request(f'{url}/api/v1/projects/{project_id}/runs', data=body, method='POST',
                                     headers=headers)
    return _ask(request, url)


def _ask(request, url):
    """The JSON answer to `request`; a refusal as TrainboardError with the server's reason, not a bare HTTPError."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        said = _detail(error) or error.reason
        hint = ' (check TRAINBOARD_API_KEY / api_key=: make a key on the settings page)' if error.code == 401 else ''
        raise TrainboardError(f'Trainboard refused {request.get_method()} {request.full_url[len(url):]}: '
                              f'HTTP {error.code}: {said}{hint}', status=error.code) from None
    except (urllib.error.URLError, OSError) as error:
        raise TrainboardError(f'cannot reach Trainboard at {url}: {getattr(error, "reason", error)}') from None


def _value(value):
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return 'Infinity' if value > 0 else '-Infinity'
    return value


def _detail(error):
    try:
        return json.loads(error.read()).get('detail', '')
    except Exception:
        return ''


def _cache_dir():
    return os.environ.get('TRAINBOARD_SPOOL_DIR') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'trainboard')


def _warn(message):
    sys.stderr.write(f'trainboard: {message}\n')
