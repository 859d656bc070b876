"""反诈: recognise a customer describing a scam in progress, in any dialogue state.

A customer being scammed right now must be warned at once, whatever the conversation is doing (a
form, the queue, an RM serving). The NLU model cannot be trusted with this alone: scam stories are
long, colloquial and mix several intents (转账, 贷款, 客服). So the gateway reads every inbound text
with these rules first. Each scheme needs two kinds of evidence (who/what + the demand), so that
"帮俺给儿子转500块钱" or "验证码收不到" are not scams, while "公安局的人说俺涉嫌洗钱" is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.chinese import to_simplified


@dataclass(frozen=True)
class FraudAlert:
    scheme: str  # machine code, e.g. "police_safe_account"
    label: str  # how the warning names it, e.g. "冒充公检法"
    money_left: bool  # the customer says money has already gone: urgent, stop payment now


def _any(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


# Each scheme: (code, label, [patterns]); a pattern is a list of regexes that must ALL match.
_AUTHORITY = _any(
    "公安", "警察", "民警", "警官", "派出所", "检察", "法院", "公检法", "刑警", "国安", "网警", "反诈中心"
)
_ACCUSED = _any(
    "洗钱",
    "涉嫌",
    "涉案",
    "通缉",
    "逮捕",
    "拘留",
    "犯罪",
    "冻结",
    "配合调查",
    "资金核查",
    "资金清查",
    "保密",
    "传唤",
    "立案",
    "黑钱",
    "案子",
)
_PAY = _any("转", "汇", "打钱", "交钱", "付款", "充值", "交", "付", "存到", "取出来")
_WIN = _any("中奖", "中了", "抽中", "获奖", "奖品", "大奖", "幸运用户", "领奖", "奖金")
_FEE = _any(
    "手续费",
    "保证金",
    "税",
    "交钱",
    "先交",
    "先付",
    "邮费",
    "运费",
    "激活费",
    "工本费",
    "公证费",
    "解冻费",
    "会员费",
    "服务费",
    "押金",
    "验资",
    "刷流水",
    "转点钱",
    "打点钱",
    "转钱",
)
_ORDERS = _any("刷单", "刷信誉", "刷好评", "做任务", "点赞返", "关注返", "返利", "返佣", "垫付", "兼职", "日结", "佣金")
_SERVICE = _any("客服", "快递", "淘宝", "京东", "拼多多", "抖音", "航空", "机票", "商家", "支付宝", "微信支付", "平台")
_REFUND = _any("退款", "理赔", "赔偿", "退货", "退钱", "赔钱", "改签", "订单异常", "订单有问题", "取消会员", "扣费")
_REFUND_ACT = _any(
    "转账",
    "验证码",
    "屏幕共享",
    "共享屏幕",
    "备用金",
    "借呗",
    "微粒贷",
    "贷款",
    "下载",
    "会议",
    "扫码",
    "银行卡号",
    "操作",
    "打开",
    "开通",
    "链接",
    "二维码",
    "转钱",
)
_CANCEL = _any("注销", "关闭", "消除")
_CANCEL_WHAT = _any("校园贷", "网贷", "学生贷", "京东金条", "百万保障", "账户", "会员", "贷款记录", "征信")
_LOAN = _any("贷款", "放款", "借款", "下款", "借钱", "网贷", "额度")
_LOAN_FEE = _any(
    "保证金",
    "解冻费",
    "手续费",
    "验资",
    "刷流水",
    "激活费",
    "先交",
    "先转",
    "工本费",
    "会员费",
    "押金",
    "银行卡号填错",
    "卡号填错",
    "账户冻结",
    "资金冻结",
    "包装流水",
    "交钱",
)
_INVEST = _any(
    "稳赚",
    "保本高收益",
    "内幕",
    "带单",
    "老师带",
    "导师",
    "荐股",
    "高回报",
    "翻倍",
    "稳赚不赔",
    "虚拟币",
    "比特币",
    "usdt",
    "博彩",
    "投资群",
    "炒币",
    "数字货币",
    "日收益",
    "包赚",
    "只赚不赔",
    "躺赚",
)
_INVEST_ACT = _any("平台", "群", "投资", "充值", "理财", "app", "软件", "入金", "下载", "链接")
_WHO = _any(
    "领导",
    "老板",
    "校长",
    "老师",
    "亲戚",
    "同学",
    "朋友",
    "儿子",
    "女儿",
    "孙子",
    "孙女",
    "外孙",
    "侄子",
    "老乡",
    "战友",
    "熟人",
    "闺女",
    "儿媳",
    "老公",
    "老婆",
    "表哥",
    "表姐",
)
_IMPERSONATE = _any(
    "自称",
    "冒充",
    "说是",
    "假装",
    "新微信",
    "新号",
    "换了号",
    "换号",
    "加我",
    "加了我",
    "qq",
    "陌生号",
    "不方便接电话",
    "声音",
    "视频里",
    "手机丢了",
    "出事了",
    "被抓",
    "住院了",
)
_BORROW = _any(
    "借钱",
    "转钱",
    "打钱",
    "汇款",
    "汇钱",
    "转账",
    "转点钱",
    "借点钱",
    "急用",
    "打点钱",
    "转过去",
    "汇过去",
    "保释金",
    "医药费",
    "手术费",
    "交罚款",
)
_CODE = _any("验证码", "动态码", "校验码", "短信码")
_ASK_CODE = _any(
    "要我",
    "问我要",
    "索要",
    "让我说",
    "让我报",
    "让我告诉",
    "让俺",
    "要俺",
    "问俺要",
    "叫我",
    "叫俺",
    "给他",
    "给对方",
    "告诉他",
    "告诉对方",
    "发给他",
    "报给",
    "念给",
)
_SCREEN = _any("屏幕共享", "共享屏幕", "远程控制", "远程协助", "开会议", "腾讯会议", "zoom", "向日葵", "会议号")

SCHEMES: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    (
        "police_safe_account",
        "冒充公检法、要求转到“安全账户”",
        (
            (_any("安全账户", "安全帐户", "资金清查", "资金核查"),),
            (_AUTHORITY, _ACCUSED),
            (_AUTHORITY, _any("转账", "转钱", "把钱转", "汇款", "打钱")),
            (_any("涉嫌", "涉案", "洗钱", "通缉"), _any("转到", "指定账户", "指定的账户", "转过去", "转账", "转钱")),
        ),
    ),
    ("prize_fee", "“中奖”先交费", ((_WIN, _FEE),)),
    (
        "fake_orders",
        "刷单返利",
        (
            (_any("刷单", "刷信誉", "刷好评"),),
            (_ORDERS, _any("返", "垫付", "任务", "充值", "本金", "提现")),
        ),
    ),
    (
        "fake_service_refund",
        "冒充客服退款、注销网贷",
        (
            (_SERVICE, _REFUND, _REFUND_ACT),
            (_CANCEL, _CANCEL_WHAT, _any("征信", "影响", "客服", "电话", "不然", "否则", "转", "贷")),
            (_any("校园贷", "学生贷"), _any("注销", "消除", "关闭", "影响征信")),
        ),
    ),
    ("loan_fee", "贷款先交保证金", ((_LOAN, _LOAN_FEE),)),
    ("investment_platform", "“稳赚”的投资平台", ((_INVEST, _INVEST_ACT),)),
    ("impersonated_acquaintance", "冒充熟人、领导借钱", ((_WHO, _IMPERSONATE, _BORROW),)),
    (
        "code_or_screen",
        "索要验证码、屏幕共享",
        (
            (_CODE, _ASK_CODE),
            (_SCREEN,),
        ),
    ),
)

_MONEY_LEFT = re.compile(
    _any(
        r"(已经|刚|刚才|刚刚|都|早就|昨天|前天)(把钱)?(转|汇|打|付|交|充)(了|过去|出去|给)",
        r"(转|汇|打|付|交|充)(了|过去了|出去了)\d*[0-9一二三四五六七八九十百千万两]*(块|元|万)",
        r"(转|汇|打|付|交|充)过去了",
        r"被骗了",
        r"上当了",
        r"钱(没了|被转走|被骗|要不回来|追回)",
        r"已转账",
        r"已经把.{0,8}(转|汇|打|交|充)",
        r"(转|汇|打|充)到.{0,12}了",
        r"充值了",
        r"已经转账",
        r"转了\d+",
        r"转了[一二三四五六七八九十两几]+[百千万]",
        r"(交|付|转|充|汇)了[一二三四五六七八九十两几0-9]+",
    )
)
_GENERIC = re.compile(_any("诈骗", "骗子", "被骗", "骗了", "骗局", "是不是骗", "是骗"))
_NOT_ABOUT_FRAUD = re.compile(_any("怎么防", "如何防", "防范", "宣传", "讲座", "知识"))
# "你们就是骗子" is anger at the bank (the handoff's negative-sentiment rule), not a scam story.
_CALLING_US_CHEATS = re.compile(r"^(你们|你|银行|农商行|这银行)(银行)?(就|都|真|简直)?(是|就是)?(一群|一帮|一伙)?骗子")


def normalise(text: str) -> str:
    return re.sub(r"[\s，。,.!！?？、~～…:：;；\"'“”‘’（）()]+", "", to_simplified(text)).lower()


def detect(text: str) -> FraudAlert | None:
    """A :class:`FraudAlert` when ``text`` tells of a scam (attempted or done), else None."""
    t = normalise(text)
    if len(t) < 4:
        return None
    for code, label, patterns in SCHEMES:
        if any(all(re.search(p, t) for p in pattern) for pattern in patterns):
            return FraudAlert(code, label, bool(_MONEY_LEFT.search(t)))
    if _GENERIC.search(t) and not _NOT_ABOUT_FRAUD.search(t) and not _CALLING_US_CHEATS.search(t):
        return FraudAlert("other", "诈骗", bool(_MONEY_LEFT.search(t)))
    return None
