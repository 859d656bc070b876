"""An inbound 退订 by SMS turns marketing SMS off at once, audited, and leaves WeChat consent alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm.access.consent import opt_out_sms_marketing
from crm.care_access import marketing_allowed
from crm.models import AuditEvent, Customer, Delivery, MarketingConsent

NOW = dt.datetime(2027, 2, 6, 2, 0, tzinfo=dt.UTC)


def _delivery(customer_id: int, key: str, channel: str, marketing: bool, status: str = "planned",
              sent_at: dt.datetime | None = None) -> Delivery:
    return Delivery(campaign_id=1, customer_id=customer_id, idempotency_key=key, channel=channel,
                    is_marketing=marketing, text="…", status=status, not_before=NOW, sent_at=sent_at)


def test_sms_opt_out(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        customer = session.scalars(select(Customer).order_by(Customer.id).limit(1)).one()
        session.query(MarketingConsent).filter_by(customer_id=customer.id).delete()
        session.add(MarketingConsent(customer_id=customer.id, channel="all", granted=True, source="开户签约"))
        session.add_all([
            _delivery(customer.id, "t:sms-marketing", "sms", True),
            _delivery(customer.id, "t:wechat-marketing", "wechat", True),
            _delivery(customer.id, "t:sms-service", "sms", False),
            _delivery(customer.id, "t:sms-sent", "sms", True, "sent", NOW - dt.timedelta(hours=1)),
        ])
        session.commit()
        assert marketing_allowed(session, [customer.id], "sms")[customer.id]

        assert opt_out_sms_marketing(session, "+86" + customer.phone, "短信退订", now=NOW) == [customer.id]
        session.commit()

        assert not marketing_allowed(session, [customer.id], "sms")[customer.id]
        assert marketing_allowed(session, [customer.id], "wechat")[customer.id]
        rows = {d.idempotency_key: d for d in session.scalars(select(Delivery).where(Delivery.customer_id == customer.id))}
        assert (rows["t:sms-marketing"].status, rows["t:sms-marketing"].reason) == ("suppressed", "opted_out")
        assert rows["t:wechat-marketing"].status == "planned"
        assert rows["t:sms-service"].status == "planned"
        assert rows["t:sms-sent"].opted_out_at is not None
        (audit,) = session.scalars(
            select(AuditEvent).where(AuditEvent.customer_id == customer.id, AuditEvent.action == "marketing_opt_out")
        )
        assert audit.detail == {"source": "短信退订", "channel": "sms", "suppressed": 1}
        assert customer.phone not in str(audit.detail)


def test_unknown_number_changes_nothing(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        before = session.query(AuditEvent).count()
        assert opt_out_sms_marketing(session, "19900000000", now=NOW) == []
        assert session.query(AuditEvent).count() == before
