"""Template rendering for care messages: 称呼, masking, Chinese dates and amounts.

Templates are written by care staff, so they run in Jinja2's sandbox with StrictUndefined: a
typo in a variable name fails loudly at ``care load``/preview time instead of greeting a
customer as "尊敬的 ".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, meta
from jinja2.sandbox import SandboxedEnvironment

from core.masking import mask_customer_name, surname

OPT_OUT_FOOTER = '回复"退订"即可取消此类消息。'
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def looks_like_person(name: str, kind: str) -> bool:
    """Company customers (小微企业) are usually registered under the firm's name."""
    return not (kind == "小微企业" and len(name.strip()) > 4)


def salutation(name: str, gender: str, kind: str = "个人") -> str:
    """How a good bank addresses the customer: 张先生 / 王女士, or 尊敬的客户 for firms.

    We deliberately stay with 先生/女士 for older customers too: 叔/阿姨 reads warm in speech
    but can come across as over-familiar in writing from a bank.
    """
    if not name.strip() or not looks_like_person(name, kind):
        return "尊敬的客户"
    title = {"M": "先生", "F": "女士"}.get(gender.upper())
    if title is None:
        return f"{name.strip()}客户"
    return f"{surname(name)}{title}"


def card_tail(card_no: str) -> str:
    """尾号1234 from a card or account number."""
    digits = "".join(ch for ch in str(card_no) if ch.isdigit())
    return f"尾号{digits[-4:]}" if len(digits) >= 4 else "尾号****"


def date_zh(value: dt.date | dt.datetime, with_weekday: bool = False) -> str:
    """12月3日 (optionally 12月3日（周五）); the year is left out, as people write it."""
    if isinstance(value, dt.datetime):
        value = value.date()
    text = f"{value.month}月{value.day}日"
    if with_weekday:
        text += f"（{WEEKDAYS_ZH[value.weekday()]}）"
    return text


def amount_zh(value: Decimal | float | int) -> str:
    """50,000.00元."""
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}元"


def rate_pct(value: Decimal | float) -> str:
    """0.0215 -> 2.15%."""
    return f"{Decimal(str(value)) * 100:.2f}%"


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters.update(
        date_zh=date_zh, amount=amount_zh, card_tail=card_tail, rate=rate_pct, mask_name=mask_customer_name
    )
    return env


@lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """Compile once per distinct template text (planning renders the same one millions of times)."""
    return environment().from_string(source)


@lru_cache(maxsize=512)
def template_variables(source: str) -> tuple[str, ...]:
    """The context names a template reads (used to key the render cache)."""
    return tuple(sorted(meta.find_undeclared_variables(environment().parse(source))))


_RENDERED: dict[tuple[Any, ...], str] = {}
_RENDER_CACHE_MAX = 200_000


def render(source: str, context: dict[str, Any], *, marketing: bool) -> str:
    """Render a message; marketing messages always end with how to opt out.

    Most customers of a campaign share the variables their message uses (张先生, the same branch
    and RM), so results are cached on exactly those values; planning a million greetings renders
    only a few thousand distinct texts. A missing variable still raises (StrictUndefined).
    """
    try:
        key = (source, marketing, *((name, context[name]) for name in template_variables(source)))
        hash(key)
    except (KeyError, TypeError):
        return _render(source, context, marketing)
    text = _RENDERED.get(key)
    if text is None:
        if len(_RENDERED) >= _RENDER_CACHE_MAX:
            _RENDERED.clear()
        text = _RENDERED[key] = _render(source, context, marketing)
    return text


class KeyedTemplate:
    """One template of one campaign, rendered once per distinct tuple of the values it reads.

    The planner computes only those values per customer (``names``, in order) and asks for the
    text; the full context is built only on a cache miss. Same output as :func:`render`.
    """

    def __init__(self, source: str, *, marketing: bool, max_cached: int = _RENDER_CACHE_MAX) -> None:
        self.source, self.marketing, self.max_cached = source, marketing, max_cached
        self.names = template_variables(source)
        self._cache: dict[tuple[Any, ...], str] = {}

    def text(self, values: tuple[Any, ...], context: Any) -> str:
        """The message for ``values``; ``context()`` builds the full context on a cache miss."""
        try:
            text = self._cache.get(values)
        except TypeError:  # an unhashable value: render without the cache
            return _render(self.source, context(), self.marketing)
        if text is None:
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            text = self._cache[values] = _render(self.source, context(), self.marketing)
        return text


def _render(source: str, context: dict[str, Any], marketing: bool) -> str:
    text = compile_template(source).render(**context).strip()
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    if marketing and not text.endswith(OPT_OUT_FOOTER):
        text = f"{text}\n{OPT_OUT_FOOTER}"
    return text
