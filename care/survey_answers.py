"""Survey answers in customers' own words → scores.

One question at a time in chat: a customer answers "还行吧", "九分", "不咋地", "👍", "⭐⭐⭐⭐" or "不想答",
or asks the bot something else entirely ("俺卡里还剩多少钱"). :func:`read_answer` tells these apart:
a score on the question's scale, a refusal (end the survey politely), or ``None`` (not an answer:
let the bot handle the message and ask the question again afterwards).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from core.chinese import to_simplified

Scale = Literal["csat", "nps"]


@dataclass(frozen=True)
class Score:
    value: int


@dataclass(frozen=True)
class Refusal:
    pass


Answer = Score | Refusal

_CN = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN["十"] = 10

_REFUSE = re.compile(
    r"不想(答|回答|说|评|评价|填|参与|参加)|不(答|回答|评价|填|参加|参与)了?|别问|别发|别烦|没空|懒得|跳过|以后再说|"
    r"^算了|^不用了|不填了|不参加调查|不参与调查|"
    # SMS opt-out words (TD, T, 退订), "stop sending", "don't score"; 取消 / 拒绝 alone.
    r"^t[d]?$|^td\b|退订|不要(再)?发|别再发|不(想)?打分|^不评$|烦不烦|烦死|^(取消|拒绝)(调查|回答)?$"
)
# Acknowledging the invitation ("好的知道了", "收到") is not an answer.
_ACK = re.compile(r"^(好的?|嗯+|哦+|ok)?[，, ]*(知道了|收到了?|晓得了|明白了?)$")
# A question or a request is not an answer, even if it contains 好/行 (你好, 行不行).
_NOT_ANSWER = re.compile(
    r"[吗呢么]$|[?？]|多少|多久|几点|哪|行不行|是不是|对不对|能否|一般(几|多|什么|怎么|要)|(?<![不没])(怎么|咋|什么)|(?<!没)啥|为何|能不能|可不可以|有没有|查|转人工|人工|投诉|挂失|贷款|"
    r"存|取|利息|网点|密码|余额|流水|到期|理财|积分|工单|预约|开通|办|手续|养老金|安全账户|转钱|转账|你好|您好"
)
_NPS_WORDS: tuple[tuple[str, int], ...] = (
    (r"(绝对|坚决|打死|肯定|决)(也)?不(会)?推荐|绝对不会|肯定不会|打死也不|谁推荐谁", 0),
    (r"不(太|大)(会|愿意)", 3),
    (r"不会推荐|不推荐|不会|不愿意", 2),
    (r"看情况|不一定|说不好|不好说|不确定|说不准", 5),
    (r"可能会|应该会|也许会|或许会", 7),
    (r"(肯定|一定|当然|必须|绝对)(会)?推荐|非常愿意|100%会推荐|百分百", 10),
    # "早就推荐过了": they already do; "那肯定", "必须的": emphatic yes.
    (r"推荐过|已经推荐|早就推荐|一直推荐|(一定|当然)会|^必须的?$|^那?肯定(的|会的?)?$", 10),
    (r"(可能|也许|或许)吧", 7),
    (r"会推荐|愿意推荐|愿意|会的|^会[啊呀吧]?$", 8),
)
# Satisfaction words, most specific first (不满意 before 满意). Values are CSAT 1-5.
_CSAT_WORDS: tuple[tuple[str, int], ...] = (
    (
        r"(很|非常|特别|十分|相当|太|一点[都也]|极其|极)不满意|很不好|太差|很差|非常差|极差|差劲|垃圾|糟|烂|差评|一塌糊涂|"
        r"气死|差的很|差得很|再也不|^差$|(很|太|非常|特别)失望",
        1,
    ),
    (
        r"不太满意|不大满意|不是很满意|不是太满意|不怎么满意|有点不满意|不满意|不咋|不怎么样|差点意思|差强人意|"
        r"不太好|不太行|不好$|不好[，,。 ]|有点差|^不行|不怎么好|孬|态度不太好|失望|不方便|不热情|不耐烦|不耐心",
        2,
    ),
    (
        r"(非常|很|特别|十分|相当|太|超级?)满意|满意(极了|得很)|非常非常|非常好|好得很|好极了|棒极了|没得说|一流|好评|太好了|"
        r"满意满意|可好了|老好了|贼好|特别好|(非常|太|超)棒|棒极|超好|巨好|完美|棒棒|💯|"
        # dialect praise with 得很 / 得板 (得劲得很, 巴适得很, 安逸得很)
        r"(得劲|巴适|安逸|舒坦|美)(得很|得板|滴很|得狠)",
        5,
    ),
    (
        r"说不上好|不好不坏|一般|凑合|马马虎虎|还可以|过得去|说得过去|中评|中规中矩|就那样|普普通通|没什么感觉|还行|还好|行吧|"
        r"差不多",
        3,
    ),
    # Grumbling about waiting is a 2 unless the customer also gave a word above ("一般般吧，排队太久了").
    (r"太慢|太久|效率(太)?低", 2),
    # 中 / 得劲: Henan for "fine" / "great"; 周到, 挺快, 方便: praise for the service itself.
    (
        r"满意|挺好|不错|蛮好|很好|可以|^好[的啊呀吧]*$|好的|服务挺好|挺行|没毛病|^棒|^赞|点赞|^还?中[啊呀吧]?$|得劲|巴适|安逸|怪好|"
        r"周到|挺快|很快|方便|热情|耐心",
        4,
    ),
)
_EMOJI_CSAT = {
    "👎": 1,
    "😡": 1,
    "😠": 1,
    "😞": 2,
    "🙁": 2,
    "😟": 2,
    "😐": 3,
    "🤔": 3,
    "😶": 3,
    "🙂": 4,
    "😊": 4,
    "👌": 4,
    "😀": 5,
    "😄": 5,
    "❤": 5,
    "🥰": 5,
    "😍": 5,
}


def read_answer(text: str, scale: Scale) -> Answer | None:
    """The answer in ``text`` for a question on ``scale`` (CSAT 1-5, NPS 0-10), or None if it is not one."""
    t = _clean(text)
    if not t:
        return None
    if _REFUSE.search(t):
        return Refusal()
    if _ACK.match(t):
        return None
    number = _number(t, scale)
    if number is not None:
        return Score(number)
    # The answer first, then the reason or a question: "满意，办事挺快的", "很不满意我等了两个小时还没办成".
    lead = _leading(t, scale)
    if lead is not None:
        return Score(lead)
    if _NOT_ANSWER.search(t):
        return None
    stars = t.count("⭐") + t.count("★")
    if stars:
        return Score(_from_csat(min(stars, 5), scale))
    worded = _words(t, scale)  # words before thumbs: "非常满意！👍" is a 5, not a thumb's 4
    if worded is not None:
        return Score(worded)
    thumbs = t.count("👍")
    if thumbs:
        if scale == "nps":
            return Score(8 if thumbs == 1 else 9 if thumbs == 2 else 10)
        return Score(4 if thumbs == 1 else 5)
    for emoji, value in _EMOJI_CSAT.items():
        if emoji in t:
            return Score(_from_csat(value, scale))
    return None


# Where an answer starts with its verdict, the rest may be a reason naming 办/存/手续 or a question.
_LEADING = re.compile(
    r"^(说实话|说真的|我)?[，, ]*"
    r"((非常|很|特别|十分|太|超|极|不太|不是很|不大|有点)?不?满意|一般般?|还行|凑合|马马虎虎)"
)


# What makes a message a question or a request for the bot, even after a verdict (满意，你们几点下班？).
_ASKS = re.compile(
    r"[吗呢么]$|[?？]|多少|多久|几[点时号个]|哪|行不行|是不是|对不对|能否|(?<![不没])(怎么|咋|什么)|(?<!没)啥|能不能|可不可以|有没有|为何|"
    r"投诉|人工|挂失|我要|我想|帮我|请问|一般(几|多|什么|怎么|要)"
)


def _leading(t: str, scale: Scale) -> int | None:
    m = _LEADING.match(t)
    first = _words(m.group(0), scale) if m else None
    if first is None:
        return None
    if _NOT_ANSWER.search(t):  # a reason naming 办/存/手续 is rescued; a question or a request is not
        return None if _ASKS.search(t) else first
    # The rest may only strengthen the verdict (满意满意非常满意, 满意极了), never turn it ("满意 就是停车不方便").
    whole = _words(t, scale)
    centre = 3 if scale == "csat" else 6
    return whole if whole is not None and (whole - centre) * (first - centre) > 0 else first


def _words(t: str, scale: Scale) -> int | None:
    if scale == "nps":
        for pattern, value in _NPS_WORDS:
            if re.search(pattern, t):
                return value
    for pattern, value in _CSAT_WORDS:
        if re.search(pattern, t):
            return _from_csat(value, scale)
    return None


# Banking numerals (壹…拾) and the pinyin-input slips customers leave in (满易, 满以, 非长).
_FINANCIAL = str.maketrans("壹贰叁肆伍陆柒捌玖拾", "一二三四五六七八九十")
_TYPOS = ((re.compile(r"满[易以义亿]"), "满意"), (re.compile(r"非[长场]"), "非常"))


def _clean(text: str) -> str:
    t = to_simplified(unicodedata.normalize("NFKC", text or "")).strip().lower().translate(_FINANCIAL)
    for typo, right in _TYPOS:
        t = typo.sub(right, t)
    t = re.sub(r"^(嗯+|哦+|呃+|额+|那个|我觉得|我看|感觉)[，,。 ]*", "", t)
    return re.sub(r"[！!。.~～]+$", "", t).strip()


def _number(t: str, scale: Scale) -> int | None:
    top = 5 if scale == "csat" else 10
    if re.search(r"满分|^(打|给)?(100|一百)分", t):  # 100分: full marks, whatever the scale
        return top
    m = re.search(r"(\d+)\s*(分|星|颗星|%)?", t)
    if m and m.group(2) != "%":
        value = int(m.group(1))
        if m.group(2) is None and not re.fullmatch(r"(打|给)?\d+(分|星)?(吧|啊|呀)?", t) and len(t) > 4:
            return None  # "2万块存三年" is a question, not a score
        return _bounded(value, scale)
    m = re.fullmatch(r"([一二三四五六七八九])([一二三四五六七八九])分(吧|啊)?", t)  # 七八分吧: the lower
    if m:
        return _bounded(_CN[m.group(1)], scale)
    m = re.search(r"(打|给)?(十|[零〇一二两三四五六七八九])(分|星|颗星)", t)
    if m:
        return _bounded(_CN[m.group(2)], scale)
    if re.fullmatch(r"(十|[零〇一二两三四五六七八九])(吧|啊|呀)?", t):
        return _bounded(_CN[t[0]], scale)
    return None


def _bounded(value: int, scale: Scale) -> int | None:
    if scale == "csat":
        return max(1, min(value, 5)) if value <= 10 else None
    return value if 0 <= value <= 10 else None


def _from_csat(value: int, scale: Scale) -> int:
    """CSAT words on an NPS question: 5 → 10, 4 → 8, 3 → 6, 2 → 3, 1 → 0."""
    return value if scale == "csat" else {5: 10, 4: 8, 3: 6, 2: 3, 1: 0}[value]
