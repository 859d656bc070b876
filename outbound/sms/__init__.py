"""SMS channel: provider adapters (Tencent Cloud, Alibaba Cloud), templates and billing segments,
the providers' callback formats, and a local sandbox of both providers' APIs (#22).

- ``make_sms_provider(settings)`` (config.py): the adapter for ``SMS_BACKEND``.
- ``SmsProvider.send_batch(template, phones, params)`` (results.py): per-phone sent/retry/failed.
- ``load_templates()`` (templates.py) and ``segments(text)`` (segments.py).
- ``parse_*_reports`` / ``parse_*_replies`` (callbacks.py): delivery reports and 上行短信.
"""
