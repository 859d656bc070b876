"""Everything the handoff says to customers, in one place."""

from __future__ import annotations

import math
import re

from gateway.chat_types import BotReply, Button

LEAVE_MESSAGE_BUTTON = Button("给客户经理留言", "/leave_message")
CANCEL_BUTTON = Button("不用了，继续问小农", "/cancel_handoff")
LEAVE_COMMANDS = frozenset({"/leave_message", "留言", "我要留言", "给客户经理留言"})
CANCEL_COMMANDS = frozenset({"/cancel_handoff", "取消", "不用了", "取消转人工", "不用了，继续问小农"})
SKIP_REASON = frozenset({"跳过", "/skip", "没有", "没有了", "无", "不用了"})

RATING_QUESTION = BotReply(
    text="本次客户经理的服务已结束，感谢您的耐心！请问您对这次服务满意吗？请回复 1–5 分（5 分为非常满意）。",
    buttons=tuple(
        Button(title, f'/rate_service{{"score": {n}}}')
        for n, title in (
            (5, "5分 非常满意"),
            (4, "4分 满意"),
            (3, "3分 一般"),
            (2, "2分 不满意"),
            (1, "1分 很不满意"),
        )
    ),
)
ASK_REASON = BotReply(
    text="谢谢您的评价！如果方便，请告诉我们原因或建议（直接回复即可）；不想填写的话回复“跳过”就行。",
    buttons=(Button("跳过", "/skip"),),
)
THANKS_RATING = "感谢您的反馈，我们会继续改进服务。还有其他需要，随时跟小农说。"
ASK_MESSAGE = "好的，请直接输入您想留给客户经理的话（一条消息即可），客户经理上班后会尽快联系您。"
CANCELLED = "好的，已为您取消转人工，小农继续为您服务。有问题直接问我就行。"
STILL_QUEUED = "您的消息已记下，客户经理接入后会看到。"
FRAUD_FLAGGED = "已提醒客户经理优先处理您的情况。"
TAKEN = "您好，我是{rm}，很高兴为您服务，请问有什么可以帮您？"
REQUEUED_NO_ANSWER = "非常抱歉让您久等了，{rm}暂时无法及时回复，已为您重新排队，马上为您安排其他客户经理。"
REQUEUED_OFFLINE = "非常抱歉，{rm}暂时离线，已为您重新排队，马上为您安排其他客户经理。"
TRANSFERRED = "已为您转接到{rm}，请稍候。"
CLOSED = "本次会话已结束，感谢您的耐心。有需要随时发消息给我们。"
OFFER_AFTER_WAIT = "让您久等了，非常抱歉。如果不方便继续等待，可以给客户经理留言，我们会尽快联系您。"


def rm_title(name: str) -> str:
    """How customers see an RM: surname + 经理 (staff names are not personal data, but stay brief)."""
    return f"{name[:1]}经理" if name else "客户经理"


def ahead_text(position: int) -> str:
    """Where the customer stands, never "前面还有 0 位"."""
    return "下一位就是您" if position <= 1 else f"您前面还有 {position - 1} 位"


def _lead(reason: str) -> str:
    if reason == "fraud":
        return "已为您加急转接客户经理。"
    if reason in ("complaint", "negative_sentiment"):
        return "非常抱歉给您带来不好的体验，已为您优先转接客户经理。"
    return "好的，正在为您转接客户经理。"


KEEP_ASKING = "等待期间有别的问题，也可以继续问小农。"


def queue_text(position: int, online: int, seconds_per_position: float, reason: str) -> str:
    """Where the customer stands and how long it may take (working hours only)."""
    lead = _lead(reason)
    if online <= 0:
        return f"{lead}客户经理暂时都在忙，{ahead_text(position)}，有空后会按顺序接待您。{KEEP_ASKING}"
    minutes = max(1, math.ceil(position * seconds_per_position / online / 60))
    return f"{lead}{ahead_text(position)}，预计等待约 {minutes} 分钟。{KEEP_ASKING}"


def queue_text_out_of_hours(next_start: str, reason: str) -> str:
    """Out of hours: no position, no waiting time; said once, when the customer is queued."""
    lead = "已为您加急登记转人工。" if reason == "fraud" else "已为您登记转人工。"
    return (
        f"{lead}现在是非工作时间，客户经理上班后（{next_start}）会尽快联系您。"
        "您可以先给客户经理留言；其他问题小农继续为您解答。"
    )


def position_update(position: int, online: int, seconds_per_position: float) -> str:
    if position <= 1:
        return "马上就轮到您了，客户经理即将接入，请稍候。"
    if online <= 0:
        return f"排队进度更新：{ahead_text(position)}。"
    minutes = max(1, math.ceil(position * seconds_per_position / online / 60))
    return f"排队进度更新：{ahead_text(position)}，预计等待约 {minutes} 分钟。"


def still_queued(position: int, working: bool, next_start: str) -> str:
    """The answer to a message the bot could not answer while the customer waits."""
    if not working:
        return f"您的消息已记下，客户经理上班后（{next_start}）会看到并联系您。"
    return f"您的消息已记下，客户经理接入后会看到。{ahead_text(position)}，请稍候。"


def queue_reminder(position: int, working: bool) -> str:
    """A short line after a bot answer, now and then, so the customer knows they are still in line."""
    if not working:
        return "（您的转人工登记还在，客户经理上班后会联系您。）"
    return f"（您仍在排队等候客户经理，{ahead_text(position)}。）"


def out_of_hours(hours: str) -> str:
    return f"现在是非工作时间（客户经理工作时间：{hours}），可能无法及时回复。您可以先留言，我们上班后第一时间联系您。"


def left_message(ref: str) -> str:
    return f"您的留言已转给客户经理，工单号 {ref}。我们会在工作时间尽快联系您，请保持手机畅通。"


_WORDS = {
    "非常满意": 5,
    "很满意": 5,
    "满意": 4,
    "一般": 3,
    "还行": 3,
    "不满意": 2,
    "很不满意": 1,
    "非常不满意": 1,
}
_PAYLOAD = re.compile(r'"score"\s*:\s*"?([1-5])')
_NUMBER = re.compile(r"^\s*([1-5])\s*(?:分|星|[。.!！]?\s*$)")


def parse_score(text: str) -> int | None:
    """1–5 from a button payload, "4", "4分" or a word like 满意; None if it is not a rating."""
    m = _PAYLOAD.search(text) or _NUMBER.match(text)
    if m:
        return int(m.group(1))
    return _WORDS.get(text.strip().rstrip("。！!"))
