"""SMS templates: kept in :mod:`crm.sms_templates` (campaign planning reads them too)."""

from crm.sms_templates import (
    DEFAULT_TEMPLATES_PATH,
    OPT_OUT_PHRASE,
    SmsTemplate,
    TemplateBook,
    TemplateError,
    load_templates,
    parse_templates,
)

__all__ = [
    "DEFAULT_TEMPLATES_PATH",
    "OPT_OUT_PHRASE",
    "SmsTemplate",
    "TemplateBook",
    "TemplateError",
    "load_templates",
    "parse_templates",
]
