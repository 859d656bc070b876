"""SMS records: sent once per key, delivery reports, unreachable numbers, replies (both backends)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import make_engine
from crm.access.sms_delivery import (
    apply_delivery_report,
    record_inbound_sms,
    record_send_outcome,
    reserve_sms,
    unreachable_phones,
)

NOW = dt.datetime(2027, 2, 6, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def test_a_key_the_provider_accepted_is_never_reserved_again(engine: Engine) -> None:
    with Session(engine) as session:
        args = dict(delivery_key="festival:7:2027-02-06", phone="13800001234", provider="tencent",
                    template_key="spring_festival_greeting", segments=1)
        first = reserve_sms(session, **args)
        assert first is not None and first.attempts == 1
        record_send_outcome(session, args["delivery_key"], outcome="retry", code="LimitExceeded.PhoneNumberThirtySecondLimit")
        again = reserve_sms(session, **args)
        assert again is not None and again.id == first.id and again.attempts == 2
        record_send_outcome(session, args["delivery_key"], outcome="sent", code="Ok", provider_message_id="2640:x", now=NOW)
        session.commit()
        assert reserve_sms(session, **args) is None


def test_delivery_reports_and_unreachable_numbers(engine: Engine) -> None:
    with Session(engine) as session:
        for key, phone in (("k1", "13800000000"), ("k2", "13800000000"), ("k3", "13900001111")):
            reserve_sms(session, delivery_key=key, phone=phone, provider="tencent", template_key="t", segments=1)
            record_send_outcome(session, key, outcome="sent", code="Ok", provider_message_id=f"sid-{key}", now=NOW)

        def report(key: str, phone: str, delivered: bool) -> str:
            row = apply_delivery_report(session, provider="tencent", provider_message_id=f"sid-{key}", phone=phone,
                                        delivered=delivered, code="DELIVRD" if delivered else "MN:0001",
                                        hard_failure=not delivered, now=NOW)
            assert row is not None
            return row.status

        assert report("k1", "13800000000", False) == "undelivered"
        assert unreachable_phones(session, ["13800000000", "13900001111"]) == set()  # one failure is not enough
        assert report("k2", "13800000000", False) == "undelivered"
        assert report("k3", "13900001111", True) == "delivered"
        assert unreachable_phones(session, ["13800000000", "13900001111"]) == {"13800000000"}
        assert apply_delivery_report(session, provider="tencent", provider_message_id="unknown", phone="13700000000",
                                     delivered=True, code="DELIVRD", hard_failure=False) is None


def test_inbound_reply_is_stored_with_its_customer(demo_engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from crm.models import Customer

    with Session(demo_engine) as session:
        customer = session.scalars(select(Customer).limit(1)).one()
        row = record_inbound_sms(session, provider="tencent", phone=customer.phone, text="退订", is_opt_out=True)
        assert row.customer_id == customer.id and row.is_opt_out
        stranger = record_inbound_sms(session, provider="aliyun", phone="19900000000", text="你好", is_opt_out=False)
        assert stranger.customer_id is None
