"""The care scheduler process: APScheduler 3.x jobs guarded by a leader lease.

Every instance starts its scheduler *paused* (so its job definitions land in the shared
SQLAlchemy job store with ``replace_existing``); a heartbeat task resumes the scheduler only
while this instance holds the leader lease and pauses it the moment the lease is lost. Jobs are
module-level functions without arguments that look the runtime up here, so nothing secret (the
database URL) is pickled into the job store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from care.compliance import TZ, Policy
from care.planner import plan_day
from care.survey_planner import plan_surveys
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from care_scheduler.leader import LeaderLease
from core.db import make_engine, make_sessionmaker, session_scope
from core.settings import Settings
from crm.access.retention import RetentionPolicy, run_retention
from crm.models.base import utcnow
from outbound.contract import Sender
from outbound.sender import create_sender

log = logging.getLogger(__name__)

PLAN_JOB_ID = "care:plan-daily"
DISPATCH_JOB_ID = "care:dispatch"
RETENTION_JOB_ID = "retention:daily"


@dataclass
class Runtime:
    factory: sessionmaker[Session]
    dispatcher: Dispatcher
    policy: Policy
    service: CareService | None = None
    retention: RetentionPolicy = RetentionPolicy()


_RUNTIME: Runtime | None = None


def _runtime() -> Runtime | None:
    if _RUNTIME is None or (_RUNTIME.service is not None and not _RUNTIME.service.is_leader):
        return None  # not configured here, or not the leader: another instance does the work
    return _RUNTIME


def plan_today_job() -> None:
    """Plan every active campaign for today's local date (idempotent: safe to run twice)."""
    rt = _runtime()
    if rt is None:
        return
    day = utcnow().astimezone(TZ).date()
    with session_scope(rt.factory) as session:
        result = plan_day(session, day, policy=rt.policy, collect=False)
    log.info("care plan %s: %d new outbox rows", day.isoformat(), result.inserted)
    with session_scope(rt.factory) as session:  # survey invitations: the same outbox, after campaigns (#24)
        surveys = plan_surveys(session, day, policy=rt.policy)
    log.info("survey plan %s: %d new invitations", day.isoformat(), surveys.inserted)


def retention_job() -> None:
    """Delete conversation texts, SMS outbox rows and audit events past RETENTION_*_DAYS (#19)."""
    rt = _runtime()
    if rt is None:
        return
    done = run_retention(rt.factory, rt.retention)
    log.info("retention: %d messages, %d sms outbox, %d sms sent, %d sms inbound, %d sms reach, %d otp counters, "
             "%d audit events deleted", done.messages, done.sms, done.sms_messages, done.sms_inbound, done.sms_reach,
             done.otp_guards, done.audit)


async def dispatch_job() -> None:
    """Send what is due (bounded, so one run never starves the next trigger)."""
    rt = _runtime()
    if rt is None:
        return
    sent = await rt.dispatcher.drain(max_batches=50)
    if sent:
        log.info("care dispatch: %d rows processed", sent)


async def run_due(
    factory: sessionmaker[Session],
    sender: Sender,
    *,
    day: dt.date | None = None,
    policy: Policy = Policy(),
    config: DispatchConfig | None = None,
) -> tuple[int, int]:
    """Plan ``day`` (default today) and send everything due now; returns (planned, processed)."""
    day = day or utcnow().astimezone(TZ).date()
    with session_scope(factory) as session:
        inserted = plan_day(session, day, policy=policy, collect=False).inserted
    dispatcher = Dispatcher(factory, sender, config or DispatchConfig(policy=policy))
    return inserted, await dispatcher.drain()


def create_scheduler(settings: Settings, *, jobstore_url: str | None = None) -> AsyncIOScheduler:
    """An AsyncIOScheduler with the care jobs in a SQLAlchemy job store (not started)."""
    url = jobstore_url or settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    scheduler = AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")},
        timezone=TZ,
        # A day's plan is still worth running hours late (idempotent); dispatch ticks are not.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600},
    )
    scheduler.add_job(
        plan_today_job,
        CronTrigger(hour=0, minute=30, timezone=TZ),
        id=PLAN_JOB_ID,
        name="plan today's care campaigns",
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=6 * 3600,
    )
    scheduler.add_job(
        dispatch_job,
        IntervalTrigger(seconds=30, timezone=TZ),
        id=DISPATCH_JOB_ID,
        name="send due care messages",
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=30,
    )
    scheduler.add_job(
        retention_job,
        CronTrigger(hour=3, minute=15, timezone=TZ),  # a quiet hour, after the night's backups
        id=RETENTION_JOB_ID,
        name="delete data past its retention",
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=12 * 3600,
    )
    scheduler.add_listener(_on_job_error, EVENT_JOB_ERROR)
    return scheduler


def _on_job_error(event: JobExecutionEvent) -> None:
    log.error("care job %s failed: %s", event.job_id, type(event.exception).__name__)


class CareService:
    """One scheduler instance: heartbeats the lease and runs jobs only while leader."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender,
        *,
        lease_ttl: dt.timedelta = dt.timedelta(seconds=30),
        heartbeat: float = 10.0,
        policy: Policy = Policy(),
        jobstore_url: str | None = None,
    ) -> None:
        global _RUNTIME
        self.engine = make_engine(settings.database_url)
        self.factory = make_sessionmaker(self.engine)
        self.lease = LeaderLease(self.factory, ttl=lease_ttl)
        self.heartbeat = heartbeat
        self.scheduler = create_scheduler(settings, jobstore_url=jobstore_url)
        self.is_leader = False
        self._task: asyncio.Task[None] | None = None
        _RUNTIME = Runtime(
            self.factory,
            Dispatcher(
                self.factory, sender, DispatchConfig(rate_per_second=settings.care_dispatch_rate, policy=policy)
            ),
            policy,
            self,
            RetentionPolicy.from_settings(settings),
        )

    async def start(self) -> None:
        self.scheduler.start(paused=True)
        await self._beat()
        self._task = asyncio.create_task(self._loop(), name="care-leader-heartbeat")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._beat()
            except Exception:  # a database blip: step down rather than risk two leaders
                log.exception("leader heartbeat failed")
                self._step_down()

    async def _beat(self) -> None:
        leader = await asyncio.to_thread(self.lease.try_acquire)
        if leader and not self.is_leader:
            log.info("care scheduler: became leader")
            self.is_leader = True
            self.scheduler.resume()
        elif not leader and self.is_leader:
            log.warning("care scheduler: lost leadership")
            self._step_down()

    def _step_down(self) -> None:
        self.is_leader = False
        if self.scheduler.state == STATE_RUNNING:
            self.scheduler.pause()

    @property
    def running_jobs(self) -> bool:
        return self.scheduler.state == STATE_RUNNING

    @property
    def paused(self) -> bool:
        return self.scheduler.state == STATE_PAUSED

    async def stop(self, *, release: bool = True) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._step_down()
        self.scheduler.shutdown(wait=False)
        if release:
            await asyncio.to_thread(self.lease.release)
        self.engine.dispose()


def _load_sender(settings: Settings) -> Sender:
    """The real sender (WeChat API and web chat), created inside the running event loop."""
    return create_sender(settings)


def main() -> None:
    """Entry point of ``python -m care_scheduler``: run until SIGTERM/SIGINT."""
    import signal

    from core.logs import configure_logging

    settings = Settings.from_env()
    configure_logging("scheduler", settings.log_format)  # type: ignore[arg-type]

    async def _run() -> None:
        service = CareService(settings, _load_sender(settings))
        await service.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await service.stop()

    asyncio.run(_run())
