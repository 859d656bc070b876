"""Map WeChat messages to the channel contract and bot replies back to WeChat text."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from gateway.chat_types import BotReply, Button, InboundMessage, Location
from gateway.wechat.messages import (
    ClickEvent,
    ImageMessage,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    ScanEvent,
    SubscribeEvent,
    TextMessage,
    UnsubscribeEvent,
    VideoMessage,
    VoiceMessage,
    WeChatMessage,
)

CHANNEL = "wechat"

# Custom-menu keys (configured in the WeChat admin console) and the intents they trigger.
# The "/intent" form makes Rasa skip NLU and use the intent directly.
MENU_INTENTS: dict[str, str] = {
    "MENU_BALANCE": "/check_balance",
    "MENU_TRANSACTIONS": "/check_transactions",
    "MENU_DEPOSIT": "/check_deposit",
    "MENU_LOAN": "/check_loan",
    "MENU_POINTS": "/check_points",
    "MENU_BRANCH": "/ask_branch",
    "MENU_APPOINTMENT": "/book_appointment",
    "MENU_REPORT_LOSS": "/report_loss",
    "MENU_BIND": "/bind_account",
    "MENU_DEPOSIT_RATE": "/ask_deposit_rate",
    "MENU_LOAN_PRODUCT": "/ask_loan_product",
    "MENU_WEALTH": "/ask_wealth_product",
    "MENU_COMPLAIN": "/complain",
    "MENU_TICKET": "/check_ticket",
}

TEXT_MEDIA_UNSUPPORTED = "您好，目前我还看不了图片和视频。请用文字描述您的问题，我会尽力为您解答。"
TEXT_LINK_UNSUPPORTED = "您好，链接内容我暂时无法查看。请用文字告诉我您想办理的业务，我来为您解答。"
TEXT_VOICE_UNRECOGNISED = "您好，这段语音我没能听清。麻烦您用文字再说一遍，谢谢！"
TEXT_MENU_UNKNOWN = "您好，这个菜单功能正在升级中，请直接输入您想咨询的问题。"
TEXT_BUSY = "非常抱歉，系统暂时繁忙，请稍后再试。如有急事，可拨打本行客服热线。"


@dataclass(frozen=True)
class Dispatch:
    """What to do with one inbound WeChat message.

    ``kind``: ``message`` (call handle_message), ``subscribe``, ``unsubscribe``, ``fixed``
    (answer ``fixed_text`` without the bot) or ``ignore`` (answer ``success``, no side effect).
    """

    kind: Literal["message", "subscribe", "unsubscribe", "fixed", "ignore"]
    inbound: InboundMessage | None = None
    scene: str | None = None
    fixed_text: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def _inbound(msg: WeChatMessage, text: str, location: Location | None = None) -> Dispatch:
    meta = {"msg_type": msg.msg_type, "create_time": str(msg.create_time)}
    msg_id = getattr(msg, "msg_id", "")
    if msg_id:
        meta["msg_id"] = msg_id
    return Dispatch(
        kind="message",
        inbound=InboundMessage(channel=CHANNEL, user_id=msg.from_user, text=text, location=location, metadata=meta),
    )


def to_dispatch(msg: WeChatMessage) -> Dispatch:
    """Decide how the conversation core sees ``msg``."""
    if isinstance(msg, TextMessage):
        if not msg.content.strip():
            return Dispatch(kind="ignore")
        return _inbound(msg, msg.content.strip())
    if isinstance(msg, VoiceMessage):
        if msg.recognition and msg.recognition.strip():
            return _inbound(msg, msg.recognition.strip())
        return Dispatch(kind="fixed", fixed_text=TEXT_VOICE_UNRECOGNISED)
    if isinstance(msg, ImageMessage | VideoMessage):
        return Dispatch(kind="fixed", fixed_text=TEXT_MEDIA_UNSUPPORTED)
    if isinstance(msg, LinkMessage):
        return Dispatch(kind="fixed", fixed_text=TEXT_LINK_UNSUPPORTED)
    if isinstance(msg, LocationMessage):
        return _inbound(msg, "/ask_branch", Location(msg.latitude, msg.longitude, msg.label))
    if isinstance(msg, LocationEvent):
        return _inbound(msg, "/ask_branch", Location(msg.latitude, msg.longitude))
    if isinstance(msg, SubscribeEvent):
        return Dispatch(kind="subscribe", scene=msg.scene)
    if isinstance(msg, ScanEvent):
        # A follower scanned an RM's QR code: the core records the referral like a new follow.
        return Dispatch(kind="subscribe", scene=msg.scene or None)
    if isinstance(msg, UnsubscribeEvent):
        return Dispatch(kind="unsubscribe")
    if isinstance(msg, ClickEvent):
        intent = MENU_INTENTS.get(msg.key)
        if intent is None:
            return Dispatch(kind="fixed", fixed_text=TEXT_MENU_UNKNOWN)
        return _inbound(msg, intent)
    # VIEW (menu link opened), template-send reports and other events need no answer.
    return Dispatch(kind="ignore")


def render_replies(replies: list[BotReply]) -> tuple[str, tuple[Button, ...]]:
    """Join bot replies into one WeChat text; buttons become numbered lines.

    WeChat text messages cannot carry buttons, so choices read "回复 1：…" and the customer
    answers with the number (see ``choice_index``).

    Returns:
        The text (empty if there is nothing to say) and the buttons in their numbered order.
    """
    texts = [r.text.strip() for r in replies if r.text.strip()]
    buttons = tuple(b for r in replies for b in r.buttons)
    if buttons:
        lines = [f"回复 {i}：{b.title}" for i, b in enumerate(buttons, start=1)]
        texts.append("\n".join(lines))
    return "\n\n".join(texts), buttons


def choice_index(text: str) -> int | None:
    """The 1-based choice number if ``text`` is just a number (full-width digits too)."""
    normalised = unicodedata.normalize("NFKC", text).strip().rstrip(".。")
    if normalised.isascii() and normalised.isdigit() and 0 < len(normalised) <= 2:
        return int(normalised)
    return None
