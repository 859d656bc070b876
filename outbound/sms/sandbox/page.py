"""The sandbox's inbox page (/sandbox/sms): each phone's messages, and a form to reply as the phone."""

from __future__ import annotations

import datetime as dt
from html import escape
from zoneinfo import ZoneInfo

from core.masking import mask_phone
from outbound.sms.sandbox.store import SandboxSms

CHINA = ZoneInfo("Asia/Shanghai")
STATUS_WORDS = {"sent": "已提交", "delivered": "已送达", "failed": "发送失败", "received": "已收到"}
PROVIDER_WORDS = {"tencent": "腾讯云", "aliyun": "阿里云"}

STYLE = """
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f3f4f6;color:#1f2937}
header{background:#166534;color:#fff;padding:12px 20px;font-size:18px}
main{display:flex;gap:16px;padding:16px}
nav{width:260px;background:#fff;border-radius:8px;padding:8px;max-height:80vh;overflow:auto}
nav a{display:block;padding:8px;border-radius:6px;color:inherit;text-decoration:none}
nav a.on,nav a:hover{background:#dcfce7}
nav small{color:#6b7280;display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
section{flex:1;background:#fff;border-radius:8px;padding:16px}
.msg{max-width:70%;margin:8px 0;padding:10px 12px;border-radius:10px;line-height:1.6}
.out{background:#f1f5f9}.in{background:#dcfce7;margin-left:auto}
.meta{font-size:12px;color:#6b7280}
form{display:flex;gap:8px;margin-top:16px}
input[name=text]{flex:1;padding:8px;border:1px solid #d1d5db;border-radius:6px}
button{background:#166534;color:#fff;border:0;border-radius:6px;padding:8px 16px}
.notice{background:#fef9c3;padding:8px;border-radius:6px;margin-bottom:8px}
"""


def _time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, CHINA).strftime("%m-%d %H:%M:%S")


def _message(sms: SandboxSms) -> str:
    if sms.direction == "in":
        meta = f"{_time(sms.at)} · 客户回复（上行短信）"
    else:
        status = STATUS_WORDS.get(sms.status, sms.status)
        code = f"（{escape(sms.report_code)}）" if sms.status == "failed" and sms.report_code else ""
        provider = PROVIDER_WORDS.get(sms.provider, sms.provider)
        template = escape(sms.template_name or sms.template_key)
        meta = f"{_time(sms.at)} · {provider} · {template} · 计费 {sms.segments} 条 · {status}{code}"
    return f'<div class="msg {sms.direction}"><div>{escape(sms.text)}</div><div class="meta">{meta}</div></div>'


def render_page(phones: list[tuple[str, int, SandboxSms]], phone: str, messages: list[SandboxSms],
                notice: str = "") -> str:
    """The whole page; phone numbers are shown masked (138****5678)."""
    links = "".join(
        f'<a class="{"on" if p == phone else ""}" href="/sandbox/sms?phone={escape(p)}">'
        f"{escape(mask_phone(p))}（{n} 条）<small>{escape(last.text)}</small></a>"
        for p, n, last in phones
    ) or "<p>还没有短信。用短信接口发一条，或在右侧以某个手机号回复。</p>"
    if phone:
        body = "".join(_message(m) for m in messages) or "<p>这个号码还没有短信。</p>"
        title = f"{escape(mask_phone(phone))} 的收件箱"
        form = (
            '<form method="post" action="/sandbox/sms/reply">'
            f'<input type="hidden" name="phone" value="{escape(phone)}">'
            '<input name="text" placeholder="以该手机号回复，例如：R 或 退订" required>'
            "<button>发送上行短信</button></form>"
        )
    else:
        body = "<p>请在左侧选择一个手机号查看收件箱，或输入手机号以它的身份回复。</p>"
        title = "短信收件箱"
        form = ('<form method="post" action="/sandbox/sms/reply"><input name="phone" placeholder="手机号" required>'
                '<input name="text" placeholder="回复内容" required><button>发送上行短信</button></form>')
    tip = f'<div class="notice">{escape(notice)}</div>' if notice else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>短信沙箱</title>
<style>{STYLE}</style></head><body><header>短信沙箱 · 腾讯云 / 阿里云短信接口（仅本机，不会真正发出）</header>
<main><nav>{links}</nav><section>{tip}<h3>{title}</h3>{body}{form}
<p class="meta">尾号 0000 的号码模拟空号、尾号 0001 模拟停机：提交成功后回执为发送失败。</p>
</section></main></body></html>"""
