"""Billing segments: kept in :mod:`crm.sms_templates` (campaign planning counts them too)."""

from crm.sms_templates import PART_LIMIT, SINGLE_LIMIT, segments, with_signature

__all__ = ["PART_LIMIT", "SINGLE_LIMIT", "segments", "with_signature"]
