"""Templates as the providers require them, and billing segments."""

from __future__ import annotations

import pytest

from outbound.sms.segments import segments, with_signature
from outbound.sms.templates import OPT_OUT_PHRASE, TemplateError, load_templates, parse_templates


def test_segments_count_the_signature_70_then_67_per_part() -> None:
    assert segments("") == 0
    assert segments("字" * 70) == 1
    assert segments("字" * 71) == 2
    assert segments("字" * 134) == 2
    assert segments("字" * 135) == 3
    assert segments(with_signature("XX农商银行", "字" * 62)) == 1  # 8 + 62 = 70
    assert segments(with_signature("XX农商银行", "字" * 63)) == 2


def test_every_marketing_template_ends_with_the_opt_out_phrase() -> None:
    book = load_templates()
    assert book.signature == "XX农商银行"
    marketing = [t for t in book.templates.values() if t.marketing]
    assert marketing and all(t.text.endswith(OPT_OUT_PHRASE) for t in marketing)


def test_full_text_and_segments() -> None:
    book = load_templates()
    text = book.full_text("spring_festival_greeting", ["王大爷", "城关支行"])
    assert text.startswith("【XX农商银行】王大爷，新春快乐！城关支行")
    assert book.segments("spring_festival_greeting", ["王大爷", "城关支行"]) == segments(text) == 1


def _doc(**template: object) -> dict[str, object]:
    base = {"name": "x", "marketing": False, "tencent_id": "1", "aliyun_code": "SMS_1", "params": ["a"],
            "text": "您好{1}"}
    return {"signature": "XX农商银行", "templates": {"t": {**base, **template}}}


def test_marketing_template_without_opt_out_phrase_is_refused() -> None:
    with pytest.raises(TemplateError, match="拒收请回复R"):
        parse_templates(_doc(marketing=True))


def test_placeholders_must_match_parameters() -> None:
    with pytest.raises(TemplateError):
        parse_templates(_doc(text="您好{1}{2}"))
    with pytest.raises(TemplateError):
        parse_templates(_doc(params=[]))


def test_render_checks_the_parameter_count() -> None:
    template = load_templates().get("birthday_greeting")
    with pytest.raises(TemplateError):
        template.render(["只有一个"])
