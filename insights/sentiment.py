"""A small lexicon scorer for clearly negative customer messages (angry, insulting, complaining).

Deliberately conservative: it should catch "你们就是骗子，气死我了" but not "我想投资" or "不错". A score
at or below ``NEGATIVE_THRESHOLD`` hands the conversation to a person (gateway.handoff); the same
scores make the conversation-sentiment trend of ``/console/insights``.
"""

from __future__ import annotations

# Weight per term; strong words alone are enough, mild ones need company.
LEXICON: dict[str, float] = {
    "投诉": -2.0,
    "举报": -2.0,
    "骗子": -3.0,
    "骗人": -3.0,
    "诈骗": -2.0,
    "垃圾": -3.0,
    "气死": -3.0,
    "太差": -2.0,
    "差劲": -2.0,
    "恶心": -2.0,
    "坑人": -3.0,
    "坑爹": -3.0,
    "滚": -2.0,
    "混蛋": -3.0,
    "王八蛋": -3.0,
    "什么破": -2.0,
    "破银行": -3.0,
    "忍无可忍": -3.0,
    "受够了": -2.0,
    "无语": -1.0,
    "生气": -1.5,
    "愤怒": -2.0,
    "不满意": -1.5,
    "失望": -1.0,
    "烦死": -2.5,
    "搞什么": -1.5,
    "退钱": -1.5,
    "还我钱": -2.5,
    "曝光": -2.0,
    "银保监": -2.0,
    "金融监管": -1.5,
    "12378": -2.0,
    "耽误": -1.0,
    "乱扣": -2.0,
    "乱收费": -2.0,
    "欺负": -2.0,
}
INTENSIFIERS = ("太", "真", "非常", "特别", "简直", "!!", "！！", "？？")
NEGATIONS = ("不是", "没有", "并不", "不算")
NEGATIVE_THRESHOLD = -3.0


def score(text: str) -> float:
    """Sum of lexicon weights found in ``text`` (0 = neutral), sharpened by intensifiers."""
    total = 0.0
    for term, weight in LEXICON.items():
        start = text.find(term)
        while start != -1:
            before = text[max(0, start - 2) : start]
            # "不是骗子" / "没有投诉" are not accusations.
            if not any(before.endswith(n) or before == n for n in NEGATIONS):
                total += weight
            start = text.find(term, start + len(term))
    if total < 0 and any(i in text for i in INTENSIFIERS):
        total *= 1.5
    return total


def is_clearly_negative(text: str) -> bool:
    return score(text) <= NEGATIVE_THRESHOLD


def label(text: str) -> str:
    """负面 / 不满 / 平稳, for the conversation-sentiment trend (the same lexicon as the handoff)."""
    value = score(text)
    if value <= NEGATIVE_THRESHOLD:
        return "负面"
    if value < 0:
        return "不满"
    return "平稳"
