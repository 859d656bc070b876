"""State-machine tests: every transition and timeout, driven through the conversation core."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import ChannelIdentity, Conversation, ConversationTransition, Message, Ticket, utcnow
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState, ServiceRating
from gateway.chat_types import InboundMessage
from gateway.conversation import ConversationService
from gateway.handoff.machine import Effects
from gateway.handoff.service import HandoffService
from gateway.rasa_client import RasaClient
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PLAIN_WEB_ID,
    VIP_WEB_ID,
    FakeRasa,
    db_url,
    factory,
    fake_rasa,
    handoff_settings,
    rm_by_login,
    set_online,
    template_db,
)


@dataclass
class Rig:
    chat: ConversationService
    handoff: HandoffService
    rasa: FakeRasa
    factory: sessionmaker[Session]

    async def say(self, web_id: str, text: str) -> list[str]:
        return [r.text for r in await self.chat.handle_message(InboundMessage("web", web_id, text))]

    def conv(self, web_id: str) -> Conversation:
        with self.factory() as s:
            identity = s.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == web_id))
            assert identity is not None
            conv = s.scalar(select(Conversation).where(Conversation.identity_id == identity.id))
            assert conv is not None
            return conv

    def hs(self, web_id: str) -> HandoffState:
        with self.factory() as s:
            hs = s.get(HandoffState, self.conv(web_id).id)
            assert hs is not None
            return hs

    def transitions(self, web_id: str) -> list[tuple[str, str, str, str]]:
        with self.factory() as s:
            rows = s.scalars(
                select(ConversationTransition)
                .where(ConversationTransition.conversation_id == self.conv(web_id).id)
                .order_by(ConversationTransition.id)
            )
            return [(t.from_state, t.to_state, t.actor, t.reason) for t in rows]

    def customer_messages(self, web_id: str) -> list[tuple[str, str]]:
        with self.factory() as s:
            rows = s.scalars(
                select(Message)
                .where(Message.conversation_id == self.conv(web_id).id, Message.direction == "out")
                .order_by(Message.id)
            )
            return [(m.author, m.text) for m in rows]

    async def act(self, login: str, web_id: str, what: str, *args: object) -> object:
        conv_id = self.conv(web_id).id
        rm = rm_by_login(self.factory, login)

        def work(s: Session, fx: Effects) -> object:
            conv = s.get(Conversation, conv_id)
            assert conv is not None
            me = s.merge(rm)
            return getattr(self.handoff.machine, what)(s, conv, me, *args, fx)

        return await self.handoff.run(work)


@pytest.fixture
async def rig(factory: sessionmaker[Session], fake_rasa: tuple[FakeRasa, str]) -> AsyncIterator[Rig]:
    async with aiohttp.ClientSession() as http:
        rasa = RasaClient(fake_rasa[1], timeout_s=5, session=http)
        service = HandoffService(
            handoff_settings(
                rm_reply_timeout_s=60,
                presence_timeout_s=30,
                leave_message_after_s=120,
                preferred_rm_wait_s=60,
                branch_wait_s=60,
            ),
            factory,
            rasa,
        )
        yield Rig(ConversationService(factory, rasa, handoff=service), service, fake_rasa[0], factory)


async def test_request_human_queues_ends_flows_and_tells_position(rig: Rig) -> None:
    now = utcnow()
    set_online(rig.factory, "rm001", now)
    replies = await rig.say(PLAIN_WEB_ID, "我要找人工")
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.QUEUED
    assert rig.transitions(PLAIN_WEB_ID) == [(ConversationState.BOT, ConversationState.QUEUED, "bot", "request_human")]
    assert "下一位就是您" in replies[0] and "分钟" in replies[0]
    # Any form is over, but the bot keeps answering while the customer waits: no pause yet.
    assert rig.rasa.event_names(f"web:{PLAIN_WEB_ID}") == ["active_loop", "slot", "reset_slots"]
    assert rig.hs(PLAIN_WEB_ID).route_scope == "branch"  # a 潜力 customer goes to their branch


async def test_two_fallbacks_in_a_row_hand_over_but_a_normal_answer_resets(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "???")
    await rig.say(PLAIN_WEB_ID, "你好")
    await rig.say(PLAIN_WEB_ID, "???")
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    await rig.say(PLAIN_WEB_ID, "???")
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.QUEUED
    assert rig.transitions(PLAIN_WEB_ID)[-1][3] == "fallback"


async def test_clearly_negative_message_hands_over_with_priority(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "你们就是骗子，气死我了")
    conv = rig.conv(PLAIN_WEB_ID)
    assert conv.state == ConversationState.QUEUED and conv.priority >= 5
    assert rig.transitions(PLAIN_WEB_ID)[-1][3] == "negative_sentiment"


async def test_vip_goes_to_own_rm_and_jumps_the_queue(rig: Rig) -> None:
    now = utcnow()
    await rig.say(PLAIN_WEB_ID, "人工")
    with rig.factory() as s:
        from crm.models import Customer

        vip = s.get(Customer, 5)
        assert vip is not None and vip.rm_id is not None
        own_rm = vip.rm_id
    with rig.factory.begin() as s:
        from crm.models import RelationshipManager

        rm = s.get(RelationshipManager, own_rm)
        assert rm is not None
        rm.online, rm.last_seen_at = True, now
    await rig.say(VIP_WEB_ID, "人工")
    hs = rig.hs(VIP_WEB_ID)
    assert (hs.tier, hs.route_scope, hs.preferred_rm_id) == ("贵宾", "rm", own_rm)
    assert rig.conv(VIP_WEB_ID).priority > rig.conv(PLAIN_WEB_ID).priority
    with rig.factory() as s:
        from crm.access.handoff_queue import queued

        assert [c.id for c, _ in queued(s)][0] == rig.conv(VIP_WEB_ID).id


async def test_complaint_payload_priority_beats_earlier_request(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.say("visitor-x", "我要投诉你们网点")
    with rig.factory() as s:
        from crm.access.handoff_queue import queued

        assert [c.id for c, _ in queued(s)][0] == rig.conv("visitor-x").id


async def test_bot_answers_while_queued_and_is_silent_with_rm_but_tracker_records(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    sent_before = len(rig.rasa.received)
    replies = await rig.say(PLAIN_WEB_ID, "还要等多久")
    assert len(rig.rasa.received) == sent_before + 1  # waiting never silences the bot
    assert replies[0] == "小农收到：还要等多久"
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    assert rig.rasa.event_names(f"web:{PLAIN_WEB_ID}")[-5:] == ["active_loop", "slot", "reset_slots", "pause", "bot"]
    assert await rig.say(PLAIN_WEB_ID, "我的卡被吞了") == []
    assert len(rig.rasa.received) == sent_before + 1
    assert rig.hs(PLAIN_WEB_ID).awaiting_since is not None
    sender = f"web:{PLAIN_WEB_ID}"
    assert [e for s, evs in rig.rasa.events if s == sender for e in evs if e["event"] == "user"][-1][
        "text"
    ] == "我的卡被吞了"


async def test_take_reply_hand_back_and_rating(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    assert await rig.act("rm001", PLAIN_WEB_ID, "take") is True
    assert await rig.act("rm002", PLAIN_WEB_ID, "take") is False  # already taken: the guarded UPDATE loses
    conv = rig.conv(PLAIN_WEB_ID)
    assert conv.state == ConversationState.AGENT and conv.rm_id == rm_by_login(rig.factory, "rm001").id
    msg = await rig.act("rm001", PLAIN_WEB_ID, "rm_reply", "您好，我来帮您看看")
    assert msg is not None
    assert ("rm", "您好，我来帮您看看") in rig.customer_messages(PLAIN_WEB_ID)
    assert await rig.act("rm002", PLAIN_WEB_ID, "hand_back") is False  # not the owner
    assert await rig.act("rm001", PLAIN_WEB_ID, "hand_back") is True
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    assert rig.transitions(PLAIN_WEB_ID)[-2:] == [
        (ConversationState.QUEUED, ConversationState.AGENT, "rm:RM001", "taken"),
        (ConversationState.AGENT, ConversationState.BOT, "rm:RM001", "hand_back"),
    ]
    assert rig.rasa.event_names(f"web:{PLAIN_WEB_ID}")[-2:] == ["resume", "bot"]
    assert "满意" in rig.customer_messages(PLAIN_WEB_ID)[-1][1]
    sent_before = len(rig.rasa.received)
    assert "原因" in (await rig.say(PLAIN_WEB_ID, '/rate_service{"score": 4}'))[0]
    assert "感谢" in (await rig.say(PLAIN_WEB_ID, "回复很快，很耐心"))[0]
    assert len(rig.rasa.received) == sent_before  # the rating never reaches the bot
    with rig.factory() as s:
        rating = s.scalar(select(ServiceRating))
        assert rating is not None
        assert (rating.score, rating.reason, rating.rm_id) == (4, "回复很快，很耐心", conv.rm_id)
    await rig.say(PLAIN_WEB_ID, "查余额")
    assert len(rig.rasa.received) == sent_before + 1  # back to the bot


async def test_rating_question_ignored_when_customer_moves_on(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.act("rm001", PLAIN_WEB_ID, "hand_back")
    assert (await rig.say(PLAIN_WEB_ID, "查余额"))[0].startswith("小农收到")
    with rig.factory() as s:
        assert s.scalar(select(ServiceRating)) is None


async def test_transfer_and_close(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    target = rm_by_login(rig.factory, "rm002")
    assert await rig.act("rm001", PLAIN_WEB_ID, "transfer", target) is True
    assert rig.conv(PLAIN_WEB_ID).rm_id == target.id
    assert await rig.act("rm001", PLAIN_WEB_ID, "close") is False
    assert await rig.act("rm002", PLAIN_WEB_ID, "close") is True
    assert [t[1] for t in rig.transitions(PLAIN_WEB_ID)] == [ConversationState.QUEUED, ConversationState.AGENT, ConversationState.AGENT, ConversationState.CLOSED]
    await rig.say(PLAIN_WEB_ID, "5")  # the rating question is answered after closing too
    await rig.say(PLAIN_WEB_ID, "跳过")
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    with rig.factory() as s:
        rating = s.scalar(select(ServiceRating))
        assert rating is not None and (rating.score, rating.reason, rating.rm_id) == (5, None, target.id)


async def test_customer_can_cancel_while_queued(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.say(PLAIN_WEB_ID, "取消")
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    assert rig.rasa.event_names(f"web:{PLAIN_WEB_ID}")[-1] == "resume"


async def test_rm_no_answer_requeues_and_tells_customer(rig: Rig) -> None:
    set_online(rig.factory, "rm001", utcnow() + dt.timedelta(seconds=3600))  # present throughout
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.say(PLAIN_WEB_ID, "在吗")
    await rig.handoff.sweep_once(utcnow() + dt.timedelta(seconds=20))
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.AGENT  # within the reply time
    await rig.handoff.sweep_once(utcnow() + dt.timedelta(seconds=61))
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.QUEUED
    assert rig.transitions(PLAIN_WEB_ID)[-1] == (ConversationState.AGENT, ConversationState.QUEUED, "system", "rm_no_answer")
    assert "重新排队" in rig.customer_messages(PLAIN_WEB_ID)[-1][1]


async def test_reply_in_time_keeps_the_conversation(rig: Rig) -> None:
    set_online(rig.factory, "rm001", utcnow() + dt.timedelta(seconds=120))
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.say(PLAIN_WEB_ID, "在吗")
    await rig.act("rm001", PLAIN_WEB_ID, "rm_reply", "在的")
    await rig.handoff.sweep_once(utcnow() + dt.timedelta(seconds=90))
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.AGENT


async def test_rm_going_offline_loses_the_conversation(rig: Rig) -> None:
    now = utcnow()
    set_online(rig.factory, "rm001", now)
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.act("rm001", PLAIN_WEB_ID, "rm_reply", "您好")
    report = await rig.handoff.sweep_once(now + dt.timedelta(seconds=31))
    assert report.offline == 1 and report.requeued == 1
    assert rig.transitions(PLAIN_WEB_ID)[-1][3] == "rm_offline"
    assert not rm_by_login(rig.factory, "rm001").online
    assert "离线" in rig.customer_messages(PLAIN_WEB_ID)[-1][1]
    again = await rig.handoff.sweep_once(now + dt.timedelta(seconds=32))
    assert again.requeued == 0  # a second sweeper (or pass) finds nothing left to do


async def test_routing_scope_widens_rm_then_branch_then_any(rig: Rig) -> None:
    now = utcnow()
    with rig.factory.begin() as s:
        from crm.models import Customer, RelationshipManager

        vip = s.get(Customer, 5)
        assert vip is not None
        rm = s.get(RelationshipManager, vip.rm_id)
        assert rm is not None
        rm.online, rm.last_seen_at = True, now + dt.timedelta(seconds=3600)
        other = s.scalar(
            select(RelationshipManager).where(
                RelationshipManager.branch_id == vip.branch_id, RelationshipManager.id != rm.id
            )
        )
        assert other is not None
        other.online, other.last_seen_at = True, now + dt.timedelta(seconds=3600)
    await rig.say(VIP_WEB_ID, "人工")
    assert rig.hs(VIP_WEB_ID).route_scope == "rm"
    await rig.handoff.sweep_once(now + dt.timedelta(seconds=30))
    assert rig.hs(VIP_WEB_ID).route_scope == "rm"
    await rig.handoff.sweep_once(now + dt.timedelta(seconds=61))
    assert rig.hs(VIP_WEB_ID).route_scope == "branch"
    await rig.handoff.sweep_once(now + dt.timedelta(seconds=125))
    assert rig.hs(VIP_WEB_ID).route_scope == "any"


async def test_leave_message_after_wait_creates_ticket(rig: Rig) -> None:
    set_online(rig.factory, "rm001", utcnow() + dt.timedelta(seconds=3600))  # else 留言 is offered at once
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.handoff.sweep_once(utcnow() + dt.timedelta(seconds=60))
    assert rig.hs(PLAIN_WEB_ID).message_offered_at is None
    await rig.handoff.sweep_once(utcnow() + dt.timedelta(seconds=121))
    assert "留言" in rig.customer_messages(PLAIN_WEB_ID)[-1][1]
    assert "请直接输入" in (await rig.say(PLAIN_WEB_ID, "/leave_message"))[0]
    replies = await rig.say(PLAIN_WEB_ID, "请明天上午给我回电话")
    assert "工单号" in replies[0]
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    with rig.factory() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.kind == "message"))
        assert ticket is not None and ticket.content == "请明天上午给我回电话" and ticket.customer_id == 1
        assert ticket.rm_id is not None


async def test_outside_working_hours_offers_message_at_once(rig: Rig) -> None:
    rig.handoff.machine.settings = handoff_settings(work_start="00:00", work_end="00:01")
    replies = await rig.say(PLAIN_WEB_ID, "人工")
    assert any("非工作时间" in r for r in replies)
    assert rig.hs(PLAIN_WEB_ID).message_offered_at is not None


async def test_position_update_when_the_queue_moves(rig: Rig) -> None:
    set_online(rig.factory, "rm001", utcnow() + dt.timedelta(seconds=3600))
    await rig.say("visitor-a", "人工")
    await rig.say("visitor-b", "人工")
    assert rig.hs("visitor-b").last_position_told == 2
    await rig.act("rm001", "visitor-a", "take")
    await rig.handoff.sweep_once()
    assert rig.hs("visitor-b").last_position_told == 1
    assert "马上就轮到您" in rig.customer_messages("visitor-b")[-1][1]
