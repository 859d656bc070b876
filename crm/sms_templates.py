"""SMS templates as registered with the providers (crm/sms_templates.yml), and billing segments.

Every SMS is a registered template plus parameters plus the bank's signature. The same file is
read by the adapters (which template id or code to send), by the sandbox (which templates and
signatures are "approved"), by campaign planning and previews (the exact text and its billing
segments). It lives in crm, below both ``outbound`` and ``care``, because both read it.

Billing segments (计费条数): Chinese providers count every character alike (汉字, letters, digits,
punctuation, spaces) and count the signature 【XX农商银行】 too: up to 70 characters is one message;
a longer one is sent as a concatenated SMS whose parts carry 67 characters each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SINGLE_LIMIT = 70
PART_LIMIT = 67


def segments(text: str) -> int:
    """Billing segments for the full text as the phone shows it, signature included."""
    length = len(text)
    if length == 0:
        return 0
    if length <= SINGLE_LIMIT:
        return 1
    return -(-length // PART_LIMIT)


def with_signature(sign_name: str, body: str) -> str:
    """The text the customer receives: 【签名】 followed by the rendered template."""
    return f"【{sign_name}】{body}"


DEFAULT_TEMPLATES_PATH = Path(__file__).with_name("sms_templates.yml")
OPT_OUT_PHRASE = "拒收请回复R"
_PLACEHOLDER = re.compile(r"\{(\d+)\}")


class TemplateError(ValueError):
    """The templates file breaks a rule the providers enforce; the message says which."""


@dataclass(frozen=True)
class SmsTemplate:
    key: str
    name: str
    marketing: bool
    tencent_id: str
    aliyun_code: str
    params: tuple[str, ...]
    text: str

    def render(self, params: Sequence[str]) -> str:
        """The template body with ``params`` in order (without the signature)."""
        if len(params) != len(self.params):
            raise TemplateError(f"模板 {self.key} 需要 {len(self.params)} 个参数，收到 {len(params)} 个")
        return _PLACEHOLDER.sub(lambda m: str(params[int(m.group(1)) - 1]), self.text)

    def aliyun_params(self, params: Sequence[str]) -> dict[str, str]:
        """The same parameters as Alibaba Cloud's named ``TemplateParam`` JSON object."""
        if len(params) != len(self.params):
            raise TemplateError(f"模板 {self.key} 需要 {len(self.params)} 个参数，收到 {len(params)} 个")
        return {name: str(value) for name, value in zip(self.params, params, strict=True)}


@dataclass(frozen=True)
class TemplateBook:
    signature: str
    templates: Mapping[str, SmsTemplate]

    def get(self, key: str) -> SmsTemplate:
        try:
            return self.templates[key]
        except KeyError:
            raise TemplateError(f"没有名为 {key} 的短信模板") from None

    def by_tencent_id(self, template_id: str) -> SmsTemplate | None:
        return next((t for t in self.templates.values() if t.tencent_id == template_id), None)

    def by_aliyun_code(self, code: str) -> SmsTemplate | None:
        return next((t for t in self.templates.values() if t.aliyun_code == code), None)

    def full_text(self, key: str, params: Sequence[str]) -> str:
        """Exactly what the phone shows: 【签名】 + rendered template."""
        return with_signature(self.signature, self.get(key).render(params))

    def segments(self, key: str, params: Sequence[str]) -> int:
        return segments(self.full_text(key, params))


def _template(key: str, raw: Mapping[str, Any]) -> SmsTemplate:
    try:
        template = SmsTemplate(
            key=key,
            name=str(raw["name"]),
            marketing=bool(raw["marketing"]),
            tencent_id=str(raw["tencent_id"]),
            aliyun_code=str(raw["aliyun_code"]),
            params=tuple(str(p) for p in raw.get("params") or ()),
            text=str(raw["text"]).strip(),
        )
    except KeyError as exc:
        raise TemplateError(f"短信模板 {key} 缺少字段 {exc.args[0]}") from None
    numbers = sorted({int(n) for n in _PLACEHOLDER.findall(template.text)})
    if numbers != list(range(1, len(template.params) + 1)):
        raise TemplateError(f"短信模板 {key} 的变量 {{1}}..{{n}} 与参数 {list(template.params)} 不一致")
    if template.marketing and not template.text.endswith(OPT_OUT_PHRASE):
        raise TemplateError(f"营销短信模板 {key} 必须以“{OPT_OUT_PHRASE}”结尾")
    return template


def parse_templates(data: Mapping[str, Any]) -> TemplateBook:
    """Validate a loaded templates document (see sms_templates.yml for its shape)."""
    signature = str(data.get("signature") or "").strip("【】 ")
    if not signature:
        raise TemplateError("短信模板文件缺少签名 signature")
    raw_templates = data.get("templates") or {}
    templates = {key: _template(key, raw) for key, raw in raw_templates.items()}
    for attr in ("tencent_id", "aliyun_code"):
        ids = [getattr(t, attr) for t in templates.values()]
        if len(ids) != len(set(ids)):
            raise TemplateError(f"短信模板的 {attr} 有重复")
    return TemplateBook(signature=signature, templates=templates)


@lru_cache(maxsize=8)
def load_templates(path: Path = DEFAULT_TEMPLATES_PATH) -> TemplateBook:
    """The template book in ``path`` (cached: the file is part of the release)."""
    with path.open(encoding="utf-8") as fh:
        return parse_templates(yaml.safe_load(fh) or {})
