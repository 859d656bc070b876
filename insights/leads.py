"""Product interest in a customer's own words (想存个定期, 想贷款买台收割机, 养老金转过来).

Rules rather than a model: an RM must be able to see *why* a message became a lead (the trigger
words are stored with it), and a false lead costs the RM a polite call, a missed one nothing
worse than today. A product word alone is not interest ("贷款逾期了怎么办" is a problem, not a
wish): it needs a cue of intent next to it, and problem words veto.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRODUCT_NAMES = {"deposit": "存款", "loan": "贷款", "wealth": "理财", "pension": "养老金"}

_PRODUCTS: dict[str, re.Pattern[str]] = {
    "deposit": re.compile(r"定期|大额存单|整存整取|零存整取|存(?:个|一笔|点|些|笔)?钱|存(?:个|一|几)?[年万]|存款"),
    "loan": re.compile(
        r"贷款|贷(?:个|点|些|笔)|借(?:点|些|笔)钱|助农贷|创业贷|农机贷|信用贷|经营贷|"
        r"买(?:台|个|辆|部)?(?:收割机|拖拉机|农机|播种机|插秧机|旋耕机)|买(?:种子|化肥|饲料|种苗|农药)的钱"
    ),
    "wealth": re.compile(r"理财|基金|国债|收益(?:高|好)|买(?:点|些)?(?:理财|基金|国债)"),
    "pension": re.compile(r"养老金|退休金|养老保险|社保"),
}
# Interest: wanting, planning, asking how to get it.
_CUE = re.compile(
    r"想|要|打算|准备|考虑|有意|计划|能不能|能否|可不可以|可以.{0,8}吗|怎么(?:办|申请|买|存|弄|贷)|"
    r"有没有|咨询|了解一下|推荐|合适"
)
# Pension transfers are interest by themselves ("养老金转过来").
_PENSION_MOVE = re.compile(
    r"(?:养老金|退休金|社保)[^。！？]{0,8}(?:转过来|转到|转进|改到|换到)|"
    r"(?:转过来|转到你们|改到你们)[^。！？]{0,8}(?:养老金|退休金|社保)"
)
# A problem with a product the customer already has is service, not sales.
_PROBLEM = re.compile(
    r"逾期|还不上|还不起|催收|亏|投诉|骗|取消|退(?:钱|掉|保)|冻结|扣(?:了|款)|利息.{0,3}(?:多少|怎么算).{0,3}还|"
    r"还款|到期了|提前支取|取出来|不想要|不要了"
)


@dataclass(frozen=True)
class Interest:
    product: str  # deposit | loan | wealth | pension
    trigger_words: tuple[str, ...]

    @property
    def product_name(self) -> str:
        return PRODUCT_NAMES.get(self.product, self.product)


def detect(text: str) -> list[Interest]:
    """The products a customer message shows interest in, with the words that show it."""
    if not text or len(text) > 300 or _PROBLEM.search(text):
        return []
    found: list[Interest] = []
    move = _PENSION_MOVE.search(text)
    if move:
        found.append(Interest("pension", (move.group(0),)))
    cue = _CUE.search(text)
    if cue is None:
        return found
    for product, pattern in _PRODUCTS.items():
        if product == "pension" and found:
            continue
        hit = pattern.search(text)
        if hit is not None:
            found.append(Interest(product, (cue.group(0), hit.group(0))))
    return found
