"""SMS as a campaign channel (#22): channel policies, template parameters, cost estimates.

A campaign says how it reaches customers (``channels`` in its YAML):

- ``wechat_then_sms``: WeChat (or web chat) where the customer follows us and, for marketing,
  agreed there; otherwise SMS with the SMS consent;
- ``sms_only``: SMS for everyone (service reminders customers expect as 到期提醒短信);
- ``wechat_only``: never SMS (the default of a campaign without an SMS template).

An SMS is a registered template (crm/sms_templates.yml) plus parameters: the campaign names the
template (``sms_template``: a key, or the provider ids ``{tencent: "2190003", aliyun: SMS_...}``)
and the planner fills its parameters from the same values the chat text uses.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from care.render import date_zh
from core.settings import Settings
from crm.sms_templates import TemplateBook, TemplateError

CHANNEL_POLICIES = ("wechat_then_sms", "sms_only", "wechat_only")
SMS = "sms"
# Estimated price of one billing segment (元); SMS_PRICE_PER_SEGMENT overrides it for reports.
DEFAULT_PRICE_PER_SEGMENT = Decimal(str(Settings.sms_price_per_segment))  # SMS_PRICE_PER_SEGMENT's default


def sms_template_key(value: Any, book: TemplateBook) -> str:
    """The template key a campaign names: ``key`` or ``{tencent: id, aliyun: code}`` (both must
    name the same registered template)."""
    if isinstance(value, str):
        book.get(value)
        return value
    if isinstance(value, Mapping):
        keys = set()
        for provider, ident in value.items():
            found = (
                book.by_tencent_id(str(ident)) if provider == "tencent"
                else book.by_aliyun_code(str(ident)) if provider == "aliyun" else None
            )
            if found is None:
                raise TemplateError(f"没有 {provider} 模板 {ident}")
            keys.add(found.key)
        if len(keys) == 1:
            return keys.pop()
        raise TemplateError(f"sms_template 的各家模板不是同一个模板: {dict(value)}")
    raise TemplateError("sms_template 应为模板名，或 {tencent: 模板ID, aliyun: 模板CODE}")


def sms_param(name: str, value: Any) -> str:
    """One template parameter as the SMS shows it: 2月13日, 50,000.00 (the template says 元),
    1234 (the template says 尾号)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return date_zh(value)
    if name == "amount":
        return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
    text = str(value)
    if name.endswith("_tail"):
        text = text.removeprefix("尾号")
    return text


def sms_params(names: Sequence[str], lookup: Callable[[str], Any]) -> tuple[str, ...]:
    """The parameters of a template (``names`` in order), each from ``lookup(name)``."""
    return tuple(sms_param(name, lookup(name)) for name in names)


def dump_params(params: Sequence[str]) -> str:
    """How an outbox row stores its SMS parameters (``deliveries.sms_params``)."""
    return json.dumps(list(params), ensure_ascii=False)


@lru_cache(maxsize=65536)
def load_params(stored: str | None) -> tuple[str, ...]:
    """Parameters as stored (cached: a campaign's rows share few distinct lists)."""
    if not stored:
        return ()
    return tuple(str(p) for p in json.loads(stored))


def price_per_segment(settings: Settings | None = None) -> Decimal:
    """SMS_PRICE_PER_SEGMENT from Settings (元 per billing segment, the bank's contract price), as
    written (str() of the float: 0.045, not its binary expansion)."""
    return Decimal(str((settings or Settings.from_env()).sms_price_per_segment))


def estimated_cost(segments: int, price_per_segment: Decimal = DEFAULT_PRICE_PER_SEGMENT) -> Decimal:
    """元, to the fen."""
    return (price_per_segment * segments).quantize(Decimal("0.01"))
