"""The process's APScheduler: periodic background work, each task with its own interval, behind one on/off switch.

TRAINBOARD_SCHEDULER_ENABLED=false turns it off (for tests, which call the task functions directly, and for extra
processes that should only serve pages).
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

import settings
from services import artifacts, auth
from services.background import gpu_metrics, intents, job_logs, leader, logs_kept, outbox, poller

log = logging.getLogger(__name__)

_scheduler: AsyncIOScheduler | None = None


async def start() -> None:
    global _scheduler
    if not settings.current.scheduler_enabled:
        log.info('scheduler disabled by TRAINBOARD_SCHEDULER_ENABLED')
        return
    logging.getLogger('apscheduler').setLevel(logging.WARNING)  # not a line per job per tick; failures still show
    await leader.start(settings.current.database_url)
    await leader.is_leader()  # at once, so that /status and the log tell from the start
    # trigger instances, not the string aliases, which a frozen binary cannot resolve (stack notes, packaging)
    _scheduler = AsyncIOScheduler(job_defaults={'coalesce': True, 'max_instances': 1, 'misfire_grace_time': 30})
    _scheduler.add_job(auth.prune_expired_tokens, IntervalTrigger(hours=1, jitter=60), id='prune-expired-tokens')
    # several processes on one PostgreSQL database: only the leader polls (and so bills and enforces budgets)
    _scheduler.add_job(leader.only_on_leader(poller.poll_once),
                       IntervalTrigger(seconds=settings.current.poll_interval_s), id='poll-providers')
    # a job of its own: a cloud that is slow to create an instance must not hold up polling, stops and budgets
    _scheduler.add_job(leader.only_on_leader(intents.launch_queued),
                       IntervalTrigger(seconds=settings.current.poll_interval_s), id='launch-queued-runs')
    # the outbox: email, Slack and webhooks, sent by the leader alone (each row is also claimed before it is sent)
    _scheduler.add_job(leader.only_on_leader(outbox.deliver_due),
                       IntervalTrigger(seconds=settings.current.delivery_interval_s), id='deliver-notifications')
    # a finished run's whole log, to the artifact store as its output.log
    _scheduler.add_job(leader.only_on_leader(logs_kept.keep_due),
                       IntervalTrigger(seconds=logs_kept.INTERVAL_S, jitter=5), id='keep-run-logs')
    # uploads that can no longer complete (their URLs expired): failed, and their parts dropped from the bucket
    _scheduler.add_job(leader.only_on_leader(artifacts.abandon_stale), IntervalTrigger(minutes=10, jitter=30),
                       id='fail-abandoned-uploads')
    for interval_s, task, name in ((settings.current.job_logs_interval_s, job_logs.collect, 'copy-job-logs'),
                                   (settings.current.gpu_metrics_interval_s, gpu_metrics.collect, 'fetch-gpu-metrics')):
        if interval_s > 0:  # 0 turns the task off
            _scheduler.add_job(leader.only_on_leader(task), IntervalTrigger(seconds=interval_s), id=name)
    _scheduler.start()


async def stop() -> None:
    global _scheduler
    if _scheduler is not None and _scheduler.running:
        _scheduler.shutdown(wait=False)
    _scheduler = None
    await leader.stop()


def status() -> dict[str, object]:
    """For /status: whether it runs, and its jobs with their next run time."""
    if _scheduler is None or not _scheduler.running:
        return {'running': False, 'enabled': settings.current.scheduler_enabled, 'jobs': [], 'leader': None}
    return {'running': True, 'enabled': True, 'leader': leader.status(),
            'jobs': [{'id': job.id, 'next_run': job.next_run_time} for job in _scheduler.get_jobs()]}
