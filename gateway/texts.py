"""What the gateway itself says to customers (反诈 warnings, buttons read as words, queue reminders).

The handoff's own texts (queue position, rating, left messages) live in ``gateway.handoff.texts``;
these are the ones the conversation core adds around the bot in any state.
"""

from __future__ import annotations

import json
import re

from gateway.antifraud import FraudAlert

# --- 反诈 ---------------------------------------------------------------------------------------

HOTLINE_UNKNOWN = "银行卡背面的本行客服热线"


def _hotline(bank_hotline: str) -> str:
    return f"本行客服热线 {bank_hotline}" if bank_hotline.strip() else HOTLINE_UNKNOWN


def fraud_warning(alert: FraudAlert, bank_hotline: str = "") -> str:
    """The warning a customer describing a scam gets at once, in any state of the conversation."""
    what = "很可能是诈骗" if alert.label == "诈骗" else f"很像“{alert.label}”类诈骗"
    return (
        f"请注意：您说的情况{what}！\n"
        "1. 不要转账、汇款，不要往任何“安全账户”打钱；\n"
        "2. 马上挂断对方电话，不要再回复对方；\n"
        "3. 验证码、密码千万不要告诉任何人，也不要按对方要求开屏幕共享或下载软件；\n"
        f"4. 拿不准就打 96110 反诈专线或 110 报警，也可以拨打{_hotline(bank_hotline)}核实。\n"
        "银行和公安机关绝不会让您转账到“安全账户”，也不会索要验证码。"
    )


def stop_payment(bank_hotline: str = "") -> str:
    """What to do right now when the money has already gone (止付)."""
    return (
        "钱已经转出去的话，请立刻止付：\n"
        "1. 马上拨打 110 报警，说清收款账号、转账时间和金额，公安机关可以紧急止付；\n"
        f"2. 同时拨打{_hotline(bank_hotline)}，要求冻结、止付您这边的账户；\n"
        "3. 保留聊天记录、转账凭证和对方电话，不要删除。"
    )


FRAUD_AGAIN = (
    "再提醒您一次：不要转账，不要告诉对方验证码，马上挂断电话。拿不准就打 96110 或 110。"
)


# --- buttons read as words ------------------------------------------------------------------------

_PAYLOAD = re.compile(r"^/[A-Za-z_][A-Za-z0-9_]*(\{.*\})?$", re.DOTALL)
# Payloads that have no button to look up (menus, typed commands, older messages): how they read.
_INTENT_WORDS: dict[str, str] = {
    "affirm": "是的",
    "deny": "不用了",
    "request_human": "转人工客服",
    "leave_message": "给客户经理留言",
    "cancel_handoff": "不用了，继续问小农",
    "show_more": "查看更多",
    "skip": "跳过",
    "bind_account": "绑定账户",
    "check_balance": "查余额",
    "check_transactions": "查明细",
    "check_deposit": "查存款",
    "check_loan": "查贷款",
    "check_points": "查积分",
    "ask_branch": "找网点",
    "book_appointment": "预约网点",
    "report_loss": "卡片挂失",
    "ask_deposit_rate": "存款利率",
    "ask_loan_product": "贷款产品",
    "ask_wealth_product": "理财产品",
    "complain": "我要投诉",
    "check_ticket": "查工单进度",
    "greet": "你好",
    "goodbye": "再见",
    "thank": "谢谢",
    "stop": "不办了",
}


def is_payload(text: str) -> bool:
    """Whether ``text`` is a button payload (``/intent`` or ``/intent{...}``), not typed words."""
    return bool(_PAYLOAD.match(text.strip()))


def payload_words(payload: str) -> str:
    """A readable stand-in for a payload whose button title is unknown: "（选择了：评分 4 分）"."""
    stripped = payload.strip()
    intent, _, rest = stripped[1:].partition("{")
    entities: dict[str, object] = {}
    if rest:
        try:
            loaded = json.loads("{" + rest)
            entities = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            entities = {}
    score = entities.get("score")
    if intent == "rate_service" and score is not None:
        return f"（选择了：评分 {score} 分）"
    tail = entities.get("card_tail")
    if isinstance(tail, str | int) and str(tail).isdigit():
        return f"（选择了：尾号{str(tail)[-4:]}的卡）"
    words = _INTENT_WORDS.get(intent)
    return f"（选择了：{words}）" if words else "（点选了一个选项）"


def shown_text(text: str, buttons: list[dict[str, str]] | None) -> str:
    """How a customer's message is stored and shown: a clicked button reads as its title."""
    if not is_payload(text):
        return text
    wanted = text.strip()
    for button in buttons or []:
        if button.get("payload", "").strip() == wanted and button.get("title"):
            return button["title"]
    return payload_words(wanted)


IN_SERVICE = "您已在人工服务中，客户经理正在为您服务，有问题直接打字告诉客户经理就行。"
