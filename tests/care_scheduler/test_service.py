import asyncio
import datetime as dt

from sqlalchemy import create_engine, text

from care_scheduler import service as svc
from care_scheduler.leader import LeaderLease
from core.settings import Settings
from outbound.contract import RecordingSender


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 5, 12, 4, 0, tzinfo=dt.UTC)

    def __call__(self):
        return self.now


def test_lease_is_exclusive_until_it_expires_or_is_released(factory):
    clock = Clock()
    a = LeaderLease(factory, holder="a", ttl=dt.timedelta(seconds=30), clock=clock)
    b = LeaderLease(factory, holder="b", ttl=dt.timedelta(seconds=30), clock=clock)
    assert a.try_acquire() and not b.try_acquire()
    clock.now += dt.timedelta(seconds=20)
    assert a.try_acquire() and not b.try_acquire()  # renewed
    clock.now += dt.timedelta(seconds=31)  # a stopped heart-beating
    assert b.try_acquire() and not a.try_acquire()
    b.release()
    assert a.try_acquire()


async def test_scheduler_configuration(db_url):
    scheduler = svc.create_scheduler(Settings(database_url=db_url))
    assert str(scheduler.timezone) == "Asia/Shanghai"
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {svc.PLAN_JOB_ID, svc.DISPATCH_JOB_ID, svc.RETENTION_JOB_ID}
        assert all(j.coalesce and j.misfire_grace_time is not None for j in jobs.values())
    finally:
        scheduler.shutdown(wait=False)


async def wait_for(predicate, limit=5.0):
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_two_instances_only_one_runs_jobs_and_standby_takes_over(engine, db_url):
    settings = Settings(database_url=db_url)
    # A lease long enough that a loaded machine cannot make the leader miss it by accident.
    kw = dict(lease_ttl=dt.timedelta(seconds=3), heartbeat=0.1)
    first = svc.CareService(settings, RecordingSender(), **kw)
    await first.start()
    second = svc.CareService(settings, RecordingSender(), **kw)
    await second.start()
    try:
        await asyncio.sleep(0.4)
        assert first.is_leader and first.running_jobs
        assert not second.is_leader and second.paused
        # Both wrote the same deterministic job ids: the shared store holds each job once.
        with create_engine(db_url).connect() as conn:
            ids = sorted(r[0] for r in conn.execute(text("SELECT id FROM apscheduler_jobs")))
        assert ids == sorted([svc.DISPATCH_JOB_ID, svc.PLAN_JOB_ID, svc.RETENTION_JOB_ID])
        # The leader dies without releasing (no clean shutdown): the standby waits for the lease.
        await first.stop(release=False)
        await wait_for(lambda: second.is_leader, limit=10)
        assert second.running_jobs
    finally:
        await second.stop()
