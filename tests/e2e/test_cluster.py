"""One conversation alternates between two gateway+Rasa instances and keeps its state and its form.

Trackers live in PostgreSQL (Rasa's SQL tracker store) and conversation locks in Redis, as in
production (deploy/rasa/endpoints.yml).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.db import make_engine
from core.masking import mask_card
from crm.demo.catalogue import PERSONAS
from crm.demo.seed import seed_demo_bank
from crm.migrate import upgrade
from crm.models import Account, ChannelIdentity, Customer
from crm.sms import sandbox_inbox
from devstack.stack import WebChat, start_cluster
from tests.conftest import drop_pg_database, new_pg_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
ZHAO = PERSONAS[-1]


@pytest.fixture
def cluster(pg_admin, rasa_model, tmp_path):  # type: ignore[no-untyped-def]
    app_url = new_pg_database(pg_admin)
    tracker_url = new_pg_database(pg_admin)
    upgrade(app_url)
    import datetime as dt

    seed_engine = make_engine(app_url)
    seed_demo_bank(seed_engine, customers=60, as_of=dt.datetime.now(dt.UTC).date())
    seed_engine.dispose()
    stack = start_cluster(tmp_path, app_url, tracker_url.rsplit("/", 1)[1], rasa_model)
    stack.env["TRACKER_URL"] = tracker_url
    yield stack
    stack.stop_all()
    drop_pg_database(pg_admin, app_url)
    drop_pg_database(pg_admin, tracker_url)


def test_binding_form_alternating_between_instances(cluster) -> None:  # type: ignore[no-untyped-def]
    first, second = cluster.env["GATEWAYS"].split()
    a = WebChat(first, ZHAO.web_id)
    b = WebChat(second, ZHAO.web_id)
    b.opener = a.opener  # same browser (cookie), different instance behind the load balancer
    steps = [(a, "我要绑定账户"), (b, ZHAO.phone), (a, ZHAO.id_number[-6:])]
    for chat, said in steps:
        b.last_id = a.last_id = max(a.last_id, b.last_id)
        assert chat.say(said), f"no answer to {said!r}"
    engine = make_engine(cluster.database_url)
    with Session(engine) as s:
        texts = sandbox_inbox(s, ZHAO.phone)
    assert texts, "the one-time code must have been sent: the form kept its slots across instances"
    code = re.search(r"(\d{6})", texts[0]).group(1)  # type: ignore[union-attr]
    b.last_id = a.last_id = max(a.last_id, b.last_id)
    b.say(code)
    with Session(engine) as s:
        ident = s.scalars(select(ChannelIdentity).where(ChannelIdentity.external_id == ZHAO.web_id)).one()
        assert ident.verified_at is not None
        customer = s.scalars(select(Customer).where(Customer.phone == ZHAO.phone)).one()
        account = s.scalars(select(Account).where(Account.customer_id == customer.id)).first()
        assert ident.customer_id == customer.id
    tracker = make_engine(cluster.env["TRACKER_URL"])
    with tracker.connect() as conn:
        events = conn.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": f"web:{ZHAO.web_id}"}
        ).scalar()
    tracker.dispose()
    assert events and events > 5, "both instances wrote the one conversation to the shared tracker store"
    b.last_id = a.last_id = max(a.last_id, b.last_id)
    engine.dispose()
    reply = a.reply_text("查余额")
    assert account is not None and mask_card(account.account_no) in reply
