"""Retention (#19): conversation texts, SMS outbox rows and audit events go after RETENTION_*_DAYS."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import crm.access.retention as retention
from core.db import make_engine, make_sessionmaker
from core.settings import ConfigError, Settings
from crm.access.retention import RetentionPolicy, run_retention
from crm.migrate import upgrade
from crm.models import AuditEvent, ChannelIdentity, Conversation, Message, SmsOutbox
from crm.models.outbound import OutboundSend, OutboundSendStatus

NOW = dt.datetime(2026, 12, 7, 3, 15, tzinfo=dt.UTC)


def age(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def seed(factory: object, ages: list[float]) -> None:
    with factory() as s:  # type: ignore[operator]
        identity = ChannelIdentity(channel="web", external_id="web:retention")
        s.add(identity)
        s.flush()
        conv = Conversation(identity_id=identity.id, sender_id="web:retention")
        s.add(conv)
        s.flush()
        for i, days in enumerate(ages):
            msg = Message(conversation_id=conv.id, direction="in", author="customer", text=f"第{i}条", created_at=age(days))
            s.add(msg)
            s.flush()
            s.add(OutboundSend(idempotency_key=f"k{i}", channel="web", status=OutboundSendStatus.SENT, message_id=msg.id))
            s.add(SmsOutbox(phone="13800000000", text="验证码 123456", idempotency_key=f"s{i}", created_at=age(days)))
            s.add(AuditEvent(actor="bot", action="view", at=age(days)))
        s.commit()


def count(factory: object, model: type) -> int:
    with factory() as s:  # type: ignore[operator]
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_each_kind_goes_after_its_own_limit(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)  # several batches, as on a large database
    engine = make_engine(migrated_url)
    factory = make_sessionmaker(engine)
    try:
        seed(factory, [1, 29, 31, 40, 200, 366, 400, 1100])
        policy = RetentionPolicy(messages_days=365, sms_days=30, audit_days=1095)
        assert run_retention(factory, policy, now=NOW, dry_run=True) == retention.RetentionResult(3, 6, 1)
        assert count(factory, Message) == 8  # a dry run deletes nothing
        assert run_retention(factory, policy, now=NOW) == retention.RetentionResult(messages=3, sms=6, audit=1)
        with factory() as s:
            assert sorted(s.scalars(select(Message.text))) == ["第0条", "第1条", "第2条", "第3条", "第4条"]
            assert sorted(s.scalars(select(SmsOutbox.idempotency_key))) == ["s0", "s1"]
            # the sends of deleted texts stay, without the link
            assert s.scalar(select(func.count()).select_from(OutboundSend).where(OutboundSend.message_id.is_(None))) == 3
        assert count(factory, AuditEvent) == 7 and count(factory, Conversation) == 1
        assert run_retention(factory, policy, now=NOW) == retention.RetentionResult()  # nothing left to do
        # 0 keeps forever
        assert run_retention(factory, RetentionPolicy(0, 0, 0), now=NOW + dt.timedelta(days=9999)) == (
            retention.RetentionResult()
        )
    finally:
        engine.dispose()


def test_settings_and_their_limits() -> None:
    policy = RetentionPolicy.from_settings(Settings.from_env({"RETENTION_SMS_DAYS": "7"}))
    assert policy == RetentionPolicy(messages_days=365, sms_days=7, audit_days=1095)
    with pytest.raises(ConfigError, match="RETENTION_MESSAGES_DAYS"):
        Settings.from_env({"RETENTION_MESSAGES_DAYS": "-1"})
    with pytest.raises(ConfigError, match="RETENTION_AUDIT_DAYS"):
        Settings.from_env({"RETENTION_AUDIT_DAYS": "30"})  # logs are kept at least six months
    assert Settings.from_env({"RETENTION_AUDIT_DAYS": "0"}).retention_audit_days == 0


def test_the_cli_runs_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    seed(factory, [5, 50])
    engine.dispose()
    bankcare = str(Path(sys.executable).parent / "bankcare")
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "RETENTION_SMS_DAYS": "10"}
    dry = subprocess.run([bankcare, "retention", "run", "--dry-run"], env=env, capture_output=True, text=True, check=True)
    assert "短信发件箱 sms_outbox: 将删除 (would delete) 1 条（保留 10 天）" in dry.stdout
    done = subprocess.run([bankcare, "retention", "run"], env=env, capture_output=True, text=True, check=True)
    assert "已删除 (deleted) 1 条" in done.stdout
    engine = make_engine(url)
    assert count(make_sessionmaker(engine), SmsOutbox) == 1
    engine.dispose()


def test_sms_records_otp_counters_and_insight_links(migrated_url: str) -> None:
    """Every SMS table holds phone numbers: each goes after RETENTION_SMS_DAYS; idle OTP counters go too;
    a deleted text's insight rows stay without the link (PostgreSQL enforces the foreign key)."""
    from crm.models import OtpGuard
    from crm.models.insights import Lead, UnansweredQuestion
    from crm.models.sms import SmsInbound, SmsMessage, SmsReach

    engine = make_engine(migrated_url)
    factory = make_sessionmaker(engine)
    try:
        seed(factory, [400])
        with factory() as s:
            old_text = s.scalar(select(Message.id))
            s.add(UnansweredQuestion(source="web", text="怎么办理", message_id=old_text))
            s.add(Lead(product="loan", trigger_words="贷款", text="想贷款", message_id=old_text))
            for i, days in enumerate([1, 45]):  # counters go after two idle days, the rest after 30
                s.add(SmsMessage(delivery_key=f"d{i}", phone="13800000000", provider="sandbox", template_key="otp",
                                 created_at=age(days)))
                s.add(SmsInbound(provider="sandbox", phone=f"1380000000{i}", text="好的", received_at=age(days)))
                s.add(SmsReach(phone=f"1390000000{i}", updated_at=age(days)))
                s.add(OtpGuard(scope="phone", subject=f"h{i}", updated_at=age(days)))
            s.commit()
        done = run_retention(factory, RetentionPolicy(messages_days=365, sms_days=30, audit_days=1095), now=NOW)
        assert (done.messages, done.sms_messages, done.sms_inbound, done.sms_reach, done.otp_guards) == (1, 1, 1, 1, 1)
        with factory() as s:
            assert list(s.scalars(select(SmsMessage.delivery_key))) == ["d0"]
            assert list(s.scalars(select(SmsInbound.phone))) == ["13800000000"]
            assert list(s.scalars(select(SmsReach.phone))) == ["13900000000"]
            assert list(s.scalars(select(OtpGuard.subject))) == ["h0"]
            assert s.scalar(select(UnansweredQuestion.message_id)) is None
            assert s.scalar(select(Lead.message_id)) is None
    finally:
        engine.dispose()
