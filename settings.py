"""Every tunable of Trainboard, read once from TRAINBOARD_* environment variables.

`current` holds the settings in force; `main.py` calls `reload()` when it starts so that a test (or a
restarted process) sees the environment of the moment. README.md has the table of every setting.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_RUNS = ('admins', 'members', 'off')  # who may launch on this machine (the `local` provider)
SMTP_TLS = ('starttls', 'ssl', 'none')
ARTIFACT_STORES = ('local', 's3')
_SMTP_PORTS = {'starttls': '587', 'ssl': '465', 'none': '25'}


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = '127.0.0.1'
    port: int = 8080
    data_dir: Path = Path('data')
    database_url: str = ''
    secret_key: str = ''
    admin_email: str = ''
    admin_password: str = ''
    admin_name: str = 'Admin'
    token_ttl_days: float = 7.0
    scheduler_enabled: bool = True
    public_url: str = ''
    cookie_secure: bool = False  # the session cookie only travels over HTTPS
    log_level: str = 'INFO'
    poll_interval_s: float = 5.0
    local_price_per_hour: float = 0.0
    local_runs: str = 'admins'  # one of LOCAL_RUNS
    local_jobs_dir: Path = Path(tempfile.gettempdir()) / 'trainboard-jobs'
    local_run_as: str = 'nobody'  # '': the server's own user
    local_python: str = ''  # '': the app's interpreter if the job's user can run it, else /usr/bin/python3
    stop_grace_s: float = 10.0
    novita_base_url: str = 'https://api.novita.ai'
    orphan_grace_s: float = 600.0
    job_logs_interval_s: float = 10.0  # 0: off
    gpu_metrics_interval_s: float = 60.0  # 0: off
    max_body_bytes: int = 1024 * 1024  # a request body's cap; reports have their own (services/ingest)
    smtp_host: str = ''  # '': no email is sent
    smtp_port: int = 587
    smtp_user: str = ''
    smtp_password: str = ''
    smtp_from: str = ''
    smtp_tls: str = 'starttls'  # one of SMTP_TLS
    webhook_private_hosts: bool = False  # outgoing webhooks may reach loopback and private addresses
    delivery_interval_s: float = 2.0  # how often the leader sends what the outbox holds
    artifact_store: str = 'local'  # one of ARTIFACT_STORES
    s3_endpoint_url: str = ''  # '': AWS itself
    s3_bucket: str = ''
    s3_prefix: str = 'trainboard'
    s3_region: str = ''  # '': boto3's own (AWS_REGION, AWS_DEFAULT_REGION), else us-east-1
    max_artifact_bytes: int = 50 * 1024**3

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] = os.environ) -> Settings:
        def get(name: str, default: str = '') -> str:
            return env.get(f'TRAINBOARD_{name}', default).strip()

        data_dir = Path(get('DATA_DIR', 'data')).expanduser().resolve()
        host = get('HOST', '127.0.0.1')
        port = int(get('PORT', '8080'))
        public_url = get('PUBLIC_URL') or f'http://{_address_of(host)}:{port}'
        smtp_tls = _choice('SMTP_TLS', get('SMTP_TLS', 'starttls').lower(), SMTP_TLS)
        return cls(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=get('DATABASE_URL') or f'sqlite://{data_dir / "trainboard.sqlite3"}',
            secret_key=get('SECRET_KEY'),
            admin_email=get('ADMIN_EMAIL').lower(),
            admin_password=env.get('TRAINBOARD_ADMIN_PASSWORD', ''),
            admin_name=get('ADMIN_NAME', 'Admin'),
            token_ttl_days=float(get('TOKEN_TTL_DAYS', '7')),
            scheduler_enabled=_flag(get('SCHEDULER_ENABLED', 'true')),
            public_url=public_url,
            cookie_secure=_flag(get('COOKIE_SECURE', str(public_url.startswith('https://')))),
            log_level=get('LOG_LEVEL', 'INFO').upper(),
            poll_interval_s=float(get('POLL_INTERVAL_S', '5')),
            local_price_per_hour=float(get('LOCAL_PRICE_PER_HOUR', '0')),
            local_runs=_choice('LOCAL_RUNS', get('LOCAL_RUNS', 'admins').lower(), LOCAL_RUNS),
            local_jobs_dir=_jobs_dir(get('LOCAL_JOBS_DIR'), data_dir),
            local_run_as=get('LOCAL_RUN_AS', 'nobody'),
            local_python=get('LOCAL_PYTHON'),
            stop_grace_s=float(get('STOP_GRACE_S', '10')),
            novita_base_url=get('NOVITA_BASE_URL', 'https://api.novita.ai'),
            orphan_grace_s=float(get('ORPHAN_GRACE_S', '600')),
            job_logs_interval_s=float(get('JOB_LOGS_INTERVAL_S', '10')),
            gpu_metrics_interval_s=float(get('GPU_METRICS_INTERVAL_S', '60')),
            max_body_bytes=int(get('MAX_BODY_BYTES', str(1024 * 1024))),
            smtp_host=get('SMTP_HOST'),
            smtp_port=int(get('SMTP_PORT') or _SMTP_PORTS[smtp_tls]),
            smtp_user=get('SMTP_USER'),
            smtp_password=env.get('TRAINBOARD_SMTP_PASSWORD', ''),
            smtp_from=get('SMTP_FROM') or f'Trainboard <trainboard@{_mail_domain(public_url)}>',
            smtp_tls=smtp_tls,
            webhook_private_hosts=_flag(get('WEBHOOK_PRIVATE_HOSTS', 'false')),
            delivery_interval_s=float(get('DELIVERY_INTERVAL_S', '2')),
            artifact_store=_choice('ARTIFACT_STORE', get('ARTIFACT_STORE', 'local').lower(), ARTIFACT_STORES),
            s3_endpoint_url=get('S3_ENDPOINT_URL').rstrip('/'),
            s3_bucket=get('S3_BUCKET'),
            s3_prefix=get('S3_PREFIX', 'trainboard').strip('/'),
            s3_region=get('S3_REGION'),
            max_artifact_bytes=int(get('MAX_ARTIFACT_BYTES', str(50 * 1024**3))),
        )


WILDCARD_HOSTS = {'0.0.0.0', '::', ''}  # every address of the machine: listened on, never an address to open
LOOPBACK_HOSTS = {'127.0.0.1', 'localhost', '::1'}


def _address_of(host: str) -> str:
    """What a link to a server listening on `host` says, with no TRAINBOARD_PUBLIC_URL: a wildcard is no address (a
    link to http://0.0.0.0 works on some machines and on none of the others'), so the machine's own loopback."""
    if host in WILDCARD_HOSTS:
        return '127.0.0.1'
    return f'[{host}]' if ':' in host else host


def serves_the_network_unnamed(current: Settings, env: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Listening beyond this machine with no public URL set: links say 127.0.0.1, and nothing but HTTP is served."""
    return current.host not in LOOPBACK_HOSTS and not env.get('TRAINBOARD_PUBLIC_URL', '').strip()


def _mail_domain(public_url: str) -> str:
    host = urlsplit(public_url).hostname or 'localhost'
    return host if '.' in host and not host.replace('.', '').isdigit() else 'localhost'


def _flag(value: str) -> bool:
    return value.lower() not in {'0', 'false', 'no', 'off', ''}


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f'TRAINBOARD_{name} must be one of {", ".join(choices)}, not "{value}".')
    return value


def _jobs_dir(configured: str, data_dir: Path) -> Path:
    """Outside the data dir (a job must not live next to the server's key); by default in a place every user can
    traverse, one per data dir, so that two servers on one machine keep their run-<id> directories apart."""
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    jobs_dir = Path(configured).expanduser().resolve() if configured else \
        Path(tempfile.gettempdir()) / f'trainboard-jobs-{digest}'
    if jobs_dir.is_relative_to(data_dir):
        raise ValueError(f'TRAINBOARD_LOCAL_JOBS_DIR ({jobs_dir}) must be outside the data dir ({data_dir}).')
    return jobs_dir


current = Settings.from_env()


def reload() -> Settings:
    """Re-read the environment (once per process start, or per test run of main.py)."""
    global current
    current = Settings.from_env()
    return current
