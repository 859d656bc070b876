"""Migration 0010 moves an appointment's time window out of the service text into its own column and back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command

from core.db import make_engine
from crm.demo.seed import seed_demo_bank
from crm.migrate import alembic_config, upgrade

OLD_ROWS = {
    # service text the bot stored before 0010 → (service, window) after it
    "开户（上午08:30-11:30）": ("开户", "上午"),
    "补卡（下午13:30-17:00）": ("补卡", "下午"),
    "大额取款（09:00-10:00）": ("大额取款", "09:00-10:00"),
    "理财签约（16:00-16:30）": ("理财签约", "16:00-16:30"),
    "销户（08:30-17:00）": ("销户", None),  # the whole day's hours: no window was chosen
    "换卡": ("换卡", None),
    "挂失补办（加急）": ("挂失补办（加急）", None),  # a bracket that is not a window stays
    "一二三四五六七八九十一二三四五六七八九十一二三（上午08:3": ("一二三四五六七八九十一二三四五六七八九十一二三", "上午"),
}
APPTS = sa.table(
    "appointments",
    sa.column("id", sa.Integer()),
    sa.column("ref", sa.String()),
    sa.column("customer_id", sa.Integer()),
    sa.column("branch_id", sa.Integer()),
    sa.column("on_date", sa.Date()),
    sa.column("service", sa.String()),
    sa.column("status", sa.String()),
    sa.column("idempotency_key", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _rows(url: str, with_window: bool) -> dict[str, tuple[str, str | None]]:
    engine = make_engine(url)
    cols = [sa.column("ref"), sa.column("service")] + ([sa.column("time_window")] if with_window else [])
    with engine.connect() as conn:
        found = conn.execute(sa.select(*cols).select_from(sa.table("appointments"))).all()
    engine.dispose()
    return {r[0]: (r[1], r[2] if with_window else None) for r in found}


def test_appointment_window_migration_backfills_and_reverses(database_url: str) -> None:
    upgrade(database_url)
    seed_demo_bank(make_engine(database_url), customers=20, as_of=dt.date(2026, 11, 30))
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0009")
    engine = make_engine(database_url)
    old = {f"YY{i:04d}": text for i, text in enumerate(OLD_ROWS)}
    with engine.begin() as conn:
        conn.execute(sa.delete(APPTS))
        conn.execute(sa.insert(APPTS), [
            {"ref": ref, "customer_id": 1, "branch_id": 1, "on_date": dt.date(2026, 12, 9), "service": text,
             "status": "booked", "idempotency_key": f"k{ref}", "created_at": dt.datetime(2026, 12, 7, tzinfo=dt.UTC)}
            for ref, text in old.items()
        ])  # fmt: skip
    engine.dispose()

    command.upgrade(cfg, "0010")
    after = _rows(database_url, with_window=True)
    assert after == {ref: OLD_ROWS[text] for ref, text in old.items()}

    command.downgrade(cfg, "0009")
    back = _rows(database_url, with_window=False)
    assert back["YY0000"][0] == "开户（上午）"
    assert back["YY0002"][0] == "大额取款（09:00-10:00）"
    assert back["YY0004"][0] == "销户" and back["YY0006"][0] == "挂失补办（加急）"
    engine = make_engine(database_url)
    assert "time_window" not in {c["name"] for c in sa.inspect(engine).get_columns("appointments")}
    assert "window_capacity" not in {c["name"] for c in sa.inspect(engine).get_columns("branches")}
    engine.dispose()

    command.upgrade(cfg, "head")  # what the downgrade wrote reads back as the same windows
    again = _rows(database_url, with_window=True)
    assert again == after
