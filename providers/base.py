"""What every provider does: list products, launch a job spec, report many jobs' states in one call, control jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from settings import Settings

DEFAULT_DISK_GB = 50
JOB_NAME_PREFIX = 'trainboard-run-'  # every job we launch is named so, then the run id: orphans are known by it


class Phase(StrEnum):
    """A provider's many states, mapped onto what the poller needs to decide."""
    PROVISIONING = 'provisioning'  # asked for, being created, pulling the image
    RUNNING = 'running'
    PAUSED = 'paused'  # frozen by us, can be resumed
    EXITED = 'exited'  # the machine stopped (not billing): paused by us, or the job's command ended
    SUCCEEDED = 'succeeded'  # the job's process ended with exit code 0
    FAILED = 'failed'  # ended otherwise
    GONE = 'gone'  # the provider no longer knows the job
    UNKNOWN = 'unknown'  # a state we do not know yet: kept and shown, never acted on


@dataclass(frozen=True, kw_only=True, slots=True)
class Product:
    id: str
    name: str
    price_per_hour: float  # USD for the whole product as offered (GPU count included)
    spot_price_per_hour: float | None = None  # the same on spot capacity (cheaper, can be reclaimed), if offered
    available: bool = True
    gpu_count: int = 1
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSpec:
    run_id: int
    name: str
    command: str
    envs: dict[str, str] = field(default_factory=dict)
    image: str = ''
    product_id: str = ''
    gpu_count: int = 0
    disk_gb: int = DEFAULT_DISK_GB
    cluster: str = ''
    spot: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class JobState:
    ref: str
    phase: Phase
    raw: str  # the provider's own word for it, shown as is
    message: str = ''
    billing: bool = False  # whether the provider charges for the job right now
    name: str = ''  # the provider's name for the job (trainboard-run-<id>), to find orphans by
    # the cloud has said it will take the (spot) instance back; when, in epoch seconds, if it said
    reclaim_notice: bool = False
    reclaim_at: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LogChunk:
    lines: list[str]
    cursor: str  # where the next read goes on from; opaque to callers, stored with the run


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageSample:
    name: str  # 'gpu_utilization' or 'gpu_memory_utilization', in percent
    time: float  # epoch seconds
    value: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Capabilities:
    """What a provider can do, so that services need no branch per provider."""
    label: str  # for people, in lists and menus: 'Novita AI', 'This machine (local)'
    needs_credential: bool  # reached through a stored API key (one account per key)
    short_label: str = ''  # in sentences ('Add a Novita API key'); the label when ''
    runs_on_server: bool = False  # jobs run as commands on the server's machine: TRAINBOARD_LOCAL_RUNS decides who
    rents_gpus: bool = False  # a launch names how many GPUs (1 to 8) of its product, priced per GPU
    spot: bool = False  # some products are offered on spot capacity (cheaper, can be reclaimed)
    job_prefix: str = ''  # the name every job of ours gets, followed by the run id ('' when jobs are not named)
    lists_jobs: bool = False  # can list every job of the account in one paged call (jobs()): orphans are found so
    gpu_metrics: bool = False  # gpu_usage() returns samples
    logs: bool = True  # logs() returns the job's own output
    pause_freezes: bool = True  # pause keeps the job's memory (SIGSTOP); else it stops the machine, disk kept
    launch_fields: tuple[str, ...] = ()  # spec fields a launch needs besides the command, e.g. ('product_id', 'image')

    @property
    def said(self) -> str:
        """The provider's name in a sentence."""
        return self.short_label or self.label


class ProviderError(Exception):
    """A provider call failed; `message` says what a user can do about it."""

    def __init__(self, message: str, *, name: str = '', retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.name = name  # the provider's own error name, e.g. INSUFFICIENT_RESOURCE
        self.retryable = retryable


class Provider(Protocol):
    name: str  # as stored on runs and credentials, and used in the API ('novita')
    capabilities: Capabilities

    @classmethod
    def connect(cls, config: Settings, secret: str) -> Provider:
        """The provider as this server reaches it: `config` is the server's settings, `secret` the credential's
        decrypted key ('' for a provider that needs none)."""

    async def products(self) -> list[Product]: ...

    async def launch(self, spec: JobSpec) -> str:
        """Start the job and return its reference at once, without waiting for it to run."""

    async def states(self, refs: list[str]) -> dict[str, JobState]:
        """The state of many jobs in as few calls as the provider allows; unknown refs map to GONE."""

    async def jobs(self) -> dict[str, JobState]:
        """Every job of the account, ours or not (only where capabilities.lists_jobs)."""

    async def pause(self, ref: str) -> None: ...

    async def resume(self, ref: str) -> None: ...

    async def stop(self, ref: str) -> None:
        """Ask the job to end (it may checkpoint) and return at once, without waiting for it to end; idempotent. The
        caller terminates a job that is still there some polls later."""

    async def terminate(self, ref: str) -> None:
        """End the job and free everything that bills; idempotent."""

    async def logs(self, ref: str, cursor: str = '') -> LogChunk:
        """The job's own output (stdout and stderr) after `cursor` ('' from the start, or as far back as the provider
        keeps it), and the cursor to read on from."""

    async def gpu_usage(self, ref: str, since: float) -> list[UsageSample]:
        """GPU utilisation and memory samples taken since `since`, where the provider measures them; else []."""
