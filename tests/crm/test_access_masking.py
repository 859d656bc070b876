"""Property tests for masking: what reaches the chat never carries the full number or name."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.masking import mask_card, mask_name, mask_phone

han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@given(st.text(alphabet="0123456789", min_size=8, max_size=19))
def test_card_shows_only_the_last_four(number: str) -> None:
    masked = mask_card(number)
    assert masked == f"尾号{number[-4:]}"
    assert len([c for c in masked if c.isdigit()]) == 4


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_phone_keeps_three_and_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked[:3] == phone[:3] and masked[-4:] == phone[-4:] and masked[3:7] == "****"
    assert phone not in masked


@given(st.text(alphabet=han, min_size=2, max_size=6))
def test_name_keeps_at_most_first_and_last(name: str) -> None:
    masked = mask_name(name)
    assert len(masked) == len(name) and masked[0] == name[0]
    hidden = masked[1:-1] if len(name) > 2 else masked[1:]
    assert set(hidden) == {"*"}
    assert masked != name


def test_transcripts_store_the_formats_from_the_penetration_test_masked(migrated_url: str) -> None:
    # Issue #19, finding 3: these were stored verbatim in `messages`, which RMs read.
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from crm.access.conversations import NewMessage, open_conversation, record_messages
    from crm.models import Message

    typed = ["170.0015.0003", "身份证后六位 2135 11", "验证码 493 433", "一七零 零零一五 零零零三"]
    engine = make_engine(migrated_url)
    with Session(engine) as s:
        conv = open_conversation(s, "web", "pentest-visitor")
        record_messages(s, conv, [NewMessage("in", "customer", t) for t in typed])
        stored = list(s.scalars(select(Message.text).order_by(Message.id)))
    engine.dispose()
    assert stored == ["170****0003", "身份证后六位 ******", "验证码 ******", "170****0003"]
