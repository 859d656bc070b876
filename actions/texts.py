"""Customer text whose shape depends on the records: lists, amounts, dates, choice buttons.

Fixed wording, and wording with a few blanks, is in the Rasa domain's responses
(``bot/domain/*.yml``) and is sent by name (``actions.reply.Reply``); only what has to be built from
data is built here, so that each sentence has one home.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from core.masking import format_yuan
from crm.access.accounts import AccountBalance
from crm.access.appointments import BookingView
from crm.access.branches import BranchInfo, hours_on, next_open_day
from crm.access.holdings import DepositSummary, LoanSummary
from crm.access.pension import PensionCredit
from crm.access.products import LoanOffer, ProductInfo, WealthChoice
from crm.access.service import CardChoice, TicketView
from crm.access.transactions import TxPage
from crm.access.windows import AFTERNOON, MORNING, window_for, window_times
from crm.access.windows import half_of as window_half
from crm.models.service import TicketStatus
from crm.timeparse import SHANGHAI, DateRange

WEEKDAYS = "一二三四五六日"

MORE_BUTTON = {"title": "更多", "payload": "/show_more"}
FAQ_NONE_OF_THESE_BUTTON = {"title": "都不是，转人工", "payload": "/request_human"}

# Why a day cannot be booked (crm.access.service.AppointmentRefused.reason).
APPOINTMENT_REFUSALS = {
    "past": "只能预约明天及以后的日期。",
    "too_far": "目前只能预约30天以内的日期。",
    "closed": "这个网点那天不营业。",
    "full": "这个网点那天的预约已经满了。",
    "window_full": "这个网点那天这个时段的预约已经满了。",
    "window_closed": "这个网点那天这个时段不营业。",
}
WINDOW_REASONS = ("window_full", "window_closed")

# Where a ticket stands, in the customer's words (every TicketStatus).
TICKET_STATUS_TEXT: dict[str, str] = {
    TicketStatus.OPEN: "已受理，等待处理",
    TicketStatus.PROCESSING: "正在处理中",
    TicketStatus.RESOLVED: "已处理完毕",
    TicketStatus.CLOSED: "已办结",
}


def pct(rate: Any) -> str:
    return f"{float(rate) * 100:.2f}%"


def long_date(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def day_with_weekday(d: dt.date) -> str:
    return f"{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


def balance_list(salutation: str, rows: list[AccountBalance]) -> str:
    lines = [f"{salutation}，您好！您名下账户余额如下："]
    for row in rows:
        state = "" if row.status == "normal" else "（账户状态异常，请联系网点）"
        lines.append(f"· {row.kind} {row.masked_no}：可用余额 {format_yuan(row.balance)}{state}")
    return "\n".join(lines)


def statement_page(page: TxPage, period: DateRange) -> str:
    """One page of a statement (``page.total`` > 0): totals on the first page, then the lines."""
    if page.page == 0:
        head = (
            f"{period.label()}共{page.total}笔交易，收入{format_yuan(page.income)}，"
            f"支出{format_yuan(page.expense)}。"
        )
    else:
        head = f"第{page.page * page.page_size + 1}至{page.page * page.page_size + len(page.lines)}笔："
    lines = [head]
    for line in page.lines:
        sign = "+" if line.amount > 0 else "-"
        who = f" {line.counterparty}" if line.counterparty else ""
        amount = f"{sign}{format_yuan(abs(line.amount))}"
        lines.append(f"{line.booked_at:%m-%d %H:%M} {line.account} {line.summary}{who} {amount}")
    if page.has_more:
        lines.append(f"还有{page.total - (page.page + 1) * page.page_size}笔，回复“更多”继续查看。")
    return "\n".join(lines)


def loan_list(rows: list[LoanSummary]) -> str:
    out = ["您的贷款情况如下："]
    for r in rows:
        line = (
            f"· {r.product}（合同{r.contract}）：剩余本金{format_yuan(r.outstanding)}，"
            f"年利率{pct(r.rate)}，还剩{r.remaining_terms}期"
        )
        if r.next_due_on and r.next_due_amount is not None:
            line += f"；下次还款{long_date(r.next_due_on)}，应还{format_yuan(r.next_due_amount)}"
        if r.status == "overdue":
            line += "（已逾期，请尽快还款以免影响征信）"
        out.append(line + "。")
    out.append("请在还款日前把钱存到还款账户里，系统会自动扣款。")
    return "\n".join(out)


def deposit_list(rows: list[DepositSummary]) -> str:
    out = ["您的定期存款如下："]
    for r in rows:
        renew = "，到期自动转存" if r.auto_renew else ""
        out.append(
            f"· {r.product}（{r.certificate}）：本金{format_yuan(r.amount)}，年利率{pct(r.rate)}，"
            f"{long_date(r.maturity_on)}到期，预计利息{format_yuan(r.expected_interest)}{renew}。"
        )
    return "\n".join(out)


def rate_list(products: list[ProductInfo]) -> str:
    lines = ["我行目前的存款年利率如下："]
    for p in products:
        if p.rate is not None:
            extra = f"（{p.description}）" if p.description else ""
            lines.append(f"· {p.name}：{pct(p.rate)}{extra}")
    lines.append("利率以网点公告为准，如有调整以办理当日为准。")
    return "\n".join(lines)


def loan_rate_list(offers: list[LoanOffer]) -> str:
    """The loans' starting rates, for "利息高不高" after a loan question."""
    lines = ["我行贷款的年利率（起）如下："]
    lines += [f"· {o.product.name}：{pct(o.product.rate)}起" for o in offers if o.product.rate is not None]
    lines.append("实际利率根据您的信用情况、担保方式和期限确定，以审批结果为准；客户经理可以帮您算每月还多少。")
    return "\n".join(lines)


def loan_offer_list(offers: list[LoanOffer], known_customer: bool) -> str:
    lines = ["我行的贷款产品有："]
    for o in offers:
        p = o.product
        limit = (
            f"，额度{spoken_yuan(p.min_amount)}–{spoken_yuan(p.max_amount)}"
            if p.min_amount and p.max_amount
            else ""
        )
        mark = "【推荐】" if o.suits_you else ""
        lines.append(f"· {mark}{p.name}：年利率{pct(p.rate)}起{limit}，{o.hint}。{p.description}")
    if not known_customer:
        lines.append("绑定账户后，我可以根据您的情况告诉您哪款更合适。")
    lines.append("具体额度和利率以审批结果为准，想申请可以回复“预约”到网点面签。")
    return "\n".join(lines)


# Risk words the customer understands, for the assessed level (C1..C5) and the product rating (R1..R5).
CUSTOMER_RISK_TYPE = {1: "保守型", 2: "稳健型", 3: "平衡型", 4: "成长型", 5: "进取型"}
PRODUCT_RISK_WORDS = {1: "低风险", 2: "中低风险", 3: "中等风险", 4: "中高风险", 5: "高风险"}


def wealth_list(choice: WealthChoice, cautious: bool = False) -> str:
    """Products within the customer's level; ``cautious`` (稳当/保本) says only low-risk ones are shown."""
    kind = CUSTOMER_RISK_TYPE.get(choice.risk_level, "稳健型")
    if cautious:
        head = f"您想要稳当一点的，下面是风险低的理财（您的风险测评结果是{kind}，这些都在您能承受的范围内）："
    else:
        head = f"您的风险测评结果是{kind}，适合您的理财有："
    lines = [head]
    for p in choice.products:
        start = f"，{spoken_yuan(p.min_amount)}起购" if p.min_amount else ""
        words = PRODUCT_RISK_WORDS.get(p.risk_level or 3, "")
        note = _plain_description(p.description)
        lines.append(f"· {p.name}（{words}）：业绩比较基准年化{pct(p.rate)}{start}{note}。")
    lines.append("理财不是存款，不保本，有风险；业绩比较基准不是承诺的收益。想要本金有保障，可以选定期存款或大额存单。")
    return "\n".join(lines)


def _plain_description(description: str) -> str:
    """The catalogue's description without its rating part ("R2中低风险，90天封闭" → "，90天封闭"):
    the risk is already said in words, and "R2" means nothing to a customer."""
    parts = [part for part in description.split("，") if "风险" not in part and part.strip()]
    text = "，".join(parts).replace("T+0赎回", "随时可以赎回，当天到账").strip("，。 ")
    return f"，{text}" if text else ""


def spoken_yuan(amount: Decimal | float | int | None) -> str:
    """Amounts the way people say them: 1 → 1元, 10000 → 1万元, 300000 → 30万元, 15000 → 1.5万元."""
    if amount is None:
        return ""
    value = Decimal(amount)
    if value >= 10000:
        wan = (value / 10000).normalize()
        return f"{wan:f}万元"
    return f"{value.normalize():f}元"


def interest_text(product: ProductInfo, principal: Decimal, years: Decimal) -> str:
    """Simple interest of a 整存整取 deposit, with the sum written out (本金 × 年利率 × 年数)."""
    rate = Decimal(product.rate or 0)
    interest = (principal * rate * years).quantize(Decimal("0.01"))
    year_words = f"{years.normalize():f}年"
    return (
        f"{product.name}年利率{pct(rate)}。存{spoken_yuan(principal)}，到期利息大约是：\n"
        f"{format_yuan(principal)} × {pct(rate)} × {year_words} = {format_yuan(interest)}\n"
        f"到期连本带息约{format_yuan(principal + interest)}。利率以办理当天网点公告为准，提前支取按活期计息。"
    )


def large_cd_text(product: ProductInfo, amount: Decimal | None, plain: str | None = None) -> str:
    """大额存单: its rate and threshold; with an amount at or above the threshold, the interest too;
    below it, ``plain`` (the same sum as an ordinary 整存整取) follows the threshold."""
    minimum = product.min_amount or Decimal(0)
    head = f"{product.name}目前年利率{pct(product.rate)}，{spoken_yuan(minimum)}起存。"
    if amount is None:
        return head + "告诉我打算存多少，我帮您算算利息。大额存单可以提前支取，提前支取的部分按活期计息。"
    if amount < minimum:
        return head + f"{spoken_yuan(amount)}还不够起存金额，存普通定期的话：\n" + (plain or "")
    return interest_text(product, amount, Decimal(product.term_months or 12) / Decimal(12))


def term_comparison_text(products: list[ProductInfo], amount: Decimal | None) -> str:
    """Two or more 整存整取 terms side by side ("存一年和存三年哪个划算"): each rate, with an amount the
    interest at maturity, and which pays the higher rate, with the caveat that a longer term locks the money."""
    lines = ["两种存法对比如下（整存整取）：" if len(products) == 2 else "几种存法对比如下（整存整取）："]
    for p in products:
        rate = Decimal(p.rate or 0)
        line = f"· {p.name}：年利率{pct(rate)}"
        if amount is not None:
            years = Decimal(p.term_months or 12) / Decimal(12)
            interest = (amount * rate * years).quantize(Decimal("0.01"))
            line += f"，存{spoken_yuan(amount)}到期利息约{format_yuan(interest)}"
        lines.append(line + "。")
    best = max(products, key=lambda p: (Decimal(p.rate or 0), p.term_months or 0))
    lines.append(
        f"按年利率算{best.name}更划算；不过存得越久，钱越晚能取出来，提前支取只按活期计息。"
        "近期可能用钱的话，建议选短一点的期限。"
    )
    if amount is None:
        lines.append("告诉我想存多少，我帮您算算每种存法的利息。")
    lines.append("利率以办理当天网点公告为准。")
    return "\n".join(lines)


def term_rate_text(product: ProductInfo) -> str:
    extra = f"，{product.description}" if product.description else ""
    return (
        f"{product.name}目前年利率{pct(product.rate)}{extra}。告诉我想存多少，我帮您算算利息，"
        f"比如“存一万一年利息多少”。"
    )


def pension_text(credit: PensionCredit) -> str:
    when = credit.booked_at.astimezone(SHANGHAI)
    tail = credit.account_no[-4:]
    return (
        f"您最近一笔养老金是{when.month}月{when.day}日到账的，金额{format_yuan(credit.amount)}，"
        f"进了尾号{tail}的账户。"
    )


def hours_text(branch: BranchInfo, today: dt.date) -> str:
    """The customer's own branch: today and usually."""
    return "您常去的" + branch_line(branch, today).removeprefix("· ")


def visit_day(on_date: dt.date, window: str | None) -> str:
    """A booked visit as the customer reads it: 12月9日（周三）上午, 12月9日（周三）09:00-10:00, 12月9日（周三）."""
    return day_with_weekday(on_date) + (window or "")


def booking_list(rows: list[BookingView]) -> str:
    lines = ["您的预约如下：" if len(rows) > 1 else "您的预约还在，信息如下："]
    for b in rows:
        when = visit_window(b.hours, b.window) if b.hours else (b.window or "")
        where = f"{b.branch}（{b.address}）"
        lines.append(f"· {day_with_weekday(b.on_date)}{when}，{where}，办理{b.service}，预约号{b.ref}。")
    lines.append("要取消就说“取消预约”，要换日子就说“预约改到下周一”这样。")
    return "\n".join(lines)


def visit_window(hours: tuple[str, str], window: str | None) -> str:
    """The clock times of a booking's window on a day with these opening hours: 上午 → 上午08:30-11:30,
    下午 → 下午13:30-17:00, 9 or 09:00-10:00 → 09:00-10:00; nothing asked (or nothing that fits) → the day."""
    stored = window_for(window, hours)
    times = window_times(stored, hours) or hours
    label = stored if stored in (MORNING, AFTERNOON) else ""
    return f"{label}{times[0]}-{times[1]}"


def branch_line(branch: BranchInfo, today: dt.date) -> str:
    """Address, phone, today's hours (or the next open day) and the usual hours of one branch."""
    hours = hours_on(branch, today)
    if hours:
        state = f"今天营业 {hours[0]}-{hours[1]}"
    else:
        nxt = next_open_day(branch, today)
        state = f"今天不营业，下次营业是{day_with_weekday(nxt)}" if nxt else "今天不营业"
    distance = f"，距您约{branch.distance_km:.1f}公里" if branch.distance_km is not None else ""
    weekday = branch.opening_hours.get("weekday")
    weekend = branch.opening_hours.get("weekend")
    usual = f"工作日{weekday[0]}-{weekday[1]}" if weekday else ""
    usual += f"，周末{weekend[0]}-{weekend[1]}" if weekend else "，周末休息"
    return f"· {branch.name}{distance}：{branch.address}，电话{branch.phone}。{state}（平时{usual}）。"


def branch_followup_text(branches: list[BranchInfo], asked: str) -> str:
    """A short follow-up about the branch(es) just named: "电话多少" → the phone, "周六开门不" → the weekend
    hours, "中午休息吗" → the weekday hours, open through noon (``asked``: phone / weekend / noon)."""
    lines = []
    for b in branches:
        weekday = b.opening_hours.get("weekday") or []
        weekend = b.opening_hours.get("weekend") or []
        if asked == "phone":
            lines.append(f"{b.name}的电话是{b.phone}，地址在{b.address}。")
        elif asked == "weekend":
            if len(weekend) == 2:
                lines.append(f"{b.name}周六、周日都营业，时间是{weekend[0]}-{weekend[1]}。")
            else:
                open_days = f"，工作日{weekday[0]}-{weekday[1]}营业" if len(weekday) == 2 else ""
                lines.append(f"{b.name}周六、周日不营业{open_days}。")
        elif len(weekday) == 2:
            lines.append(f"{b.name}工作日{weekday[0]}-{weekday[1]}营业，中午不关门，照常办理业务。")
    if asked != "phone" and lines:
        lines.append("法定节假日营业时间可能调整，以网点公告为准。")
    return "\n".join(lines)


def weekend_branches_text(branches: list[BranchInfo]) -> str:
    """"周六开门不" with no branch named: which branches open at weekends, and when."""
    open_ = [b for b in branches if len(b.opening_hours.get("weekend") or []) == 2]
    if not open_:
        return "我行网点周六、周日都不营业，工作日再来办理吧。手机银行和小农24小时都能用。"
    by_hours: dict[tuple[str, str], list[str]] = {}
    for b in open_:
        start, end = (b.opening_hours.get("weekend") or ["", ""])[:2]
        by_hours.setdefault((str(start), str(end)), []).append(b.name)
    parts = [f"{'、'.join(names)}（{start}-{end}）" for (start, end), names in by_hours.items()]
    rest = "其他网点周末休息。" if len(open_) < len(branches) else ""
    return (
        f"周六、周日营业的网点有：{'；'.join(parts)}。{rest}法定节假日以网点公告为准。"
        "告诉我乡镇名，我可以告诉您那边网点的具体时间。"
    )


def branch_list(place: str | None, branches: list[BranchInfo], today: dt.date) -> str:
    """The branches near ``place``, or near the customer's location when ``place`` is None."""
    head = f"{place}附近的网点：" if place else "离您最近的网点："
    lines = [head, *(branch_line(b, today) for b in branches)]
    lines.append("法定节假日营业时间可能调整，以网点公告为准。")
    return "\n".join(lines)


def branch_buttons(branches: list[BranchInfo]) -> list[dict[str, str]]:
    return [{"title": b.name, "payload": f'/inform{{"branch":"{b.name}"}}'} for b in branches]


def card_buttons(cards: list[CardChoice]) -> list[dict[str, str]]:
    return [{"title": f"{c.kind}{c.masked}", "payload": f'/inform{{"card_tail":"{c.tail}"}}'} for c in cards]


def date_refusal(reason: str, suggestion: dt.date | None) -> str:
    """Why the customer's day cannot be booked, the nearest day that can, and a request for another."""
    tip = f"最近可以预约的是{day_with_weekday(suggestion)}。" if suggestion else ""
    again = "请换个时段或换一天。" if reason in WINDOW_REASONS else "请换一天。"
    return APPOINTMENT_REFUSALS.get(reason, "这天不能预约。") + tip + again


def window_refusal(reason: str, day: dt.date, window: str, lead: str = "") -> str:
    """The window asked for is full or outside the hours that day: name it and say how to pick another
    (``lead``: how the example answer starts, "改到" when moving a booking)."""
    asked = f"{window}点" if window.isdigit() else window  # an hour outside the opening hours ("20")
    morning = int(window) < 12 if window.isdigit() else window_half(window) == MORNING
    other = AFTERNOON if morning else MORNING
    state = "的预约已经满了" if reason == "window_full" else "不营业"
    return (
        f"这个网点{day.month}月{day.day}日{asked}{state}。可以换个时段，比如回复“{lead}{day.month}月{day.day}日{other}”，"
        "也可以换一天。"
    )


def booking_refusal(reason: str) -> str:
    """The day was taken between the question and the booking (the form is over: start again)."""
    return APPOINTMENT_REFUSALS.get(reason, "") + "预约没有成功，请回复“预约”重新选择日期。"


def ticket_list(rows: list[TicketView]) -> str:
    lines = ["您的工单进度："]
    for t in rows:
        line = f"· {t.ref}（{t.created_at:%m月%d日}提交）：{TICKET_STATUS_TEXT[t.status]}"
        if t.resolution:  # what the RM wrote on resolving it in the console's work queue (#21)
            line += f"。处理结果：{t.resolution}"
        lines.append(line)
    return "\n".join(lines)
