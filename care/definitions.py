"""Campaign definitions: YAML files in ``care/campaigns/`` loaded into ``campaigns``.

A file holds one campaign (a mapping) or several (a list). Every template is compiled and
test-rendered with sample data at load time, so a broken template never reaches the planner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from care.calendar import LUNAR_FESTIVALS, SOLAR_FESTIVALS
from care.render import render
from care.sms_channel import CHANNEL_POLICIES, sms_params, sms_template_key
from crm.models import Campaign
from crm.models.base import utcnow
from crm.sms_templates import TemplateError, load_templates

CAMPAIGN_DIR = Path(__file__).resolve().parent / "campaigns"
KINDS = ("birthday", "festival", "holiday_notice", "reminder", "reactivation", "promotion")
REMINDER_SUBJECTS = ("deposit_maturity", "loan_due", "card_expiry")


class DefinitionError(ValueError):
    """A campaign file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Audience:
    min_age: int | None = None
    max_age: int | None = None
    kinds: tuple[str, ...] = ()
    occupations: tuple[str, ...] = ()
    # dimension -> allowed values, e.g. {"tier": ["贵宾", "私行"], "lifecycle": ["active"]}
    segments: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignDef:
    code: str
    name: str
    kind: str
    is_marketing: bool
    priority: int
    send_time: dt.time
    audience: Audience
    templates: dict[str, str]  # variant (or festival code) -> template source
    params: dict[str, Any]
    raw: dict[str, Any]
    # wechat_then_sms | sms_only | wechat_only (see care/sms_channel.py)
    channels: str = "wechat_only"
    # variant (or festival code) -> SMS template key in crm/sms_templates.yml ("default" for all)
    sms_templates: dict[str, str] = field(default_factory=dict)
    sms_daily_budget: int | None = None  # SMS this campaign may plan per local day (None: no limit)

    def template_for(self, key: str = "default") -> str:
        return self.templates[key]

    def sms_template_for(self, key: str = "default") -> str | None:
        return self.sms_templates.get(key) or self.sms_templates.get("default")

    @property
    def uses_sms(self) -> bool:
        return self.channels != "wechat_only"


SAMPLE_CONTEXT: dict[str, Any] = {
    "salutation": "张先生",
    "name_masked": "张*华",
    "rm_name": "李经理",
    "rm_phone_tail": "尾号5678",
    "branch_name": "城关支行",
    "branch_phone": "0571-88888888",
    "age": 65,
    "today": dt.date(2027, 2, 6),
    "festival_name": "春节",
    "due_on": dt.date(2027, 2, 13),
    "days_left": 7,
    "amount": 50000,
    "card_tail": "尾号1234",
    "auto_renew": True,
    "product_name": "丰收存",
    "product_rate": "2.15%",
    "holiday_name": "春节",
    "holiday_start": dt.date(2027, 2, 5),
    "holiday_end": dt.date(2027, 2, 11),
    "branch_hours_text": "假期期间营业时间为9:00-16:00",
    "adjusted_workdays_text": "2月14日（周日）正常上班",
    "idle_days": 200,
    "variant": "A",
    "offset_days": 7,
    "certificate_tail": "尾号0001",
    "card_kind": "借记卡",
}


def _parse_time(value: Any, where: str) -> dt.time:
    try:
        hour, minute = str(value).split(":")
        return dt.time(int(hour), int(minute))
    except ValueError as exc:
        raise DefinitionError(f"{where}: send_time 应为 HH:MM") from exc


def parse(raw: dict[str, Any], where: str = "<dict>") -> CampaignDef:
    """Validate one raw YAML mapping and build a CampaignDef."""
    for key in ("code", "name", "kind", "is_marketing"):
        if key not in raw:
            raise DefinitionError(f"{where}: 缺少字段 {key}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise DefinitionError(f"{where}: kind 必须是 {', '.join(KINDS)} 之一")
    aud = raw.get("audience") or {}
    audience = Audience(
        min_age=aud.get("min_age"),
        max_age=aud.get("max_age"),
        kinds=tuple(aud.get("kinds") or ()),
        occupations=tuple(aud.get("occupations") or ()),
        segments={k: tuple(v) for k, v in (aud.get("segments") or {}).items()},
    )
    templates: dict[str, str] = {}
    sms: dict[str, str] = {}
    if "template" in raw:
        templates["default"] = raw["template"]
    if raw.get("sms_template"):
        sms["default"] = _sms_key(raw["sms_template"], where)
    for variant, spec in (raw.get("variants") or {}).items():
        templates[str(variant)] = spec["template"]
        if spec.get("sms_template"):
            sms[str(variant)] = _sms_key(spec["sms_template"], where)
    for fest, spec in (raw.get("festivals") or {}).items():
        if fest not in LUNAR_FESTIVALS and fest not in SOLAR_FESTIVALS:
            raise DefinitionError(f"{where}: 未知节日 {fest}")
        templates[fest] = spec["template"]
        if spec.get("sms_template"):
            sms[fest] = _sms_key(spec["sms_template"], where)
    if not templates:
        raise DefinitionError(f"{where}: 没有模板 (template / variants / festivals)")
    if kind == "reminder" and raw.get("subject") not in REMINDER_SUBJECTS:
        raise DefinitionError(f"{where}: reminder 的 subject 必须是 {', '.join(REMINDER_SUBJECTS)} 之一")
    if kind == "reminder" and raw["is_marketing"]:
        raise DefinitionError(f"{where}: 服务提醒不是营销消息 (is_marketing 必须为 false)")
    channels = str(raw.get("channels") or ("wechat_then_sms" if sms else "wechat_only"))
    if channels not in CHANNEL_POLICIES:
        raise DefinitionError(f"{where}: channels 必须是 {', '.join(CHANNEL_POLICIES)} 之一")
    budget = raw.get("sms_daily_budget")
    if budget is not None and (not isinstance(budget, int) or budget < 0):
        raise DefinitionError(f"{where}: sms_daily_budget 应为不小于 0 的整数")
    params = {k: v for k, v in raw.items() if k not in {"template", "variants", "audience", "festivals"}}
    params["festivals"] = {
        k: {kk: vv for kk, vv in v.items() if kk not in ("template", "sms_template")}
        for k, v in (raw.get("festivals") or {}).items()
    }
    params["variant_weights"] = {
        str(k): int(v.get("weight", 50)) for k, v in (raw.get("variants") or {}).items()
    }
    definition = CampaignDef(
        code=str(raw["code"]),
        name=str(raw["name"]),
        kind=kind,
        is_marketing=bool(raw["is_marketing"]),
        priority=int(raw.get("priority", 50)),
        send_time=_parse_time(raw.get("send_time", "09:00"), where),
        audience=audience,
        templates=templates,
        params=params,
        raw=raw,
        channels=channels,
        sms_templates=sms,
        sms_daily_budget=budget,
    )
    for key, source in templates.items():
        try:
            render(source, SAMPLE_CONTEXT, marketing=definition.is_marketing)
        except Exception as exc:  # any template error is a definition error for staff to fix
            raise DefinitionError(f"{where}: 模板 {key} 无法渲染: {exc}") from exc
    if definition.uses_sms:
        _check_sms(definition, where)
    return definition


def _sms_key(value: Any, where: str) -> str:
    try:
        return sms_template_key(value, load_templates())
    except TemplateError as exc:
        raise DefinitionError(f"{where}: {exc}") from None


def _check_sms(definition: CampaignDef, where: str) -> None:
    """Every message of an SMS campaign has a registered template of the same kind whose
    parameters the planner can fill (test-rendered with the sample data)."""
    book = load_templates()
    for key in definition.templates:
        sms_key = definition.sms_template_for(key)
        if sms_key is None and definition.channels != "sms_only":
            continue  # this message (e.g. one festival of several) goes by WeChat only
        if sms_key is None:
            raise DefinitionError(f"{where}: 渠道 {definition.channels} 需要短信模板 sms_template（{key}）")
        template = book.get(sms_key)
        if template.marketing != definition.is_marketing:
            kind = "营销" if definition.is_marketing else "服务"
            raise DefinitionError(f"{where}: {kind}活动不能使用短信模板 {sms_key}（类型不一致）")
        try:
            book.full_text(sms_key, sms_params(template.params, SAMPLE_CONTEXT.__getitem__))
        except (KeyError, TemplateError) as exc:
            raise DefinitionError(f"{where}: 短信模板 {sms_key} 的参数无法填写: {exc}") from None


def read_files(directory: Path = CAMPAIGN_DIR) -> list[CampaignDef]:
    """Parse every ``*.yml`` file in ``directory``; codes must be unique."""
    out: list[CampaignDef] = []
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else [data]
        out.extend(parse(item, f"{path.name}") for item in items)
    codes = [d.code for d in out]
    dupes = {c for c in codes if codes.count(c) > 1}
    if dupes:
        raise DefinitionError(f"重复的活动代码: {', '.join(sorted(dupes))}")
    return out


def load_into_db(session: Session, definitions: list[CampaignDef]) -> tuple[int, int]:
    """Upsert definitions by code; returns (created, updated). Campaigns are never deleted."""
    created = updated = 0
    existing = {c.code: c for c in session.scalars(select(Campaign))}
    for d in definitions:
        row = existing.get(d.code)
        if row is None:
            row = Campaign(code=d.code)
            session.add(row)
            created += 1
        else:
            updated += 1
        row.name, row.kind, row.is_marketing = d.name, d.kind, d.is_marketing
        row.definition = _json_safe(d.raw)
        row.active = bool(d.raw.get("active", True))
        row.updated_at = utcnow()
    session.flush()
    return created, updated


def from_row(row: Campaign) -> CampaignDef:
    return parse(row.definition, f"campaign {row.code}")


def _json_safe(value: Any) -> Any:
    """YAML may produce dates; the JSON column needs strings."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
