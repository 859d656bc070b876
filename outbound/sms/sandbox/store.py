"""What the sandbox has sent and received, per phone, in memory (a development tool)."""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class SandboxSms:
    id: int
    direction: str  # out (bank -> phone) | in (phone -> bank, 上行)
    provider: str  # tencent | aliyun
    phone: str
    text: str
    at: float
    template_key: str = ""
    template_name: str = ""  # 生日祝福 ... (what the page shows)
    segments: int = 0
    message_id: str = ""  # Tencent SerialNo / Alibaba BizId
    context: str = ""  # Tencent SessionContext / Alibaba OutId
    status: str = "sent"  # sent | delivered | failed | received
    report_code: str = ""


@dataclass
class SandboxStats:
    requests: int = 0
    rejected_requests: int = 0
    accepted: int = 0  # messages accepted (one per number)
    refused_numbers: int = 0  # numbers refused within accepted requests (limits, bad numbers)
    reports_pushed: int = 0
    replies_pushed: int = 0
    push_failures: int = 0
    by_code: dict[str, int] = field(default_factory=dict)

    def count(self, code: str, n: int = 1) -> None:
        self.by_code[code] = self.by_code.get(code, 0) + n


class Inboxes:
    """The last ``per_phone`` messages of the last ``max_phones`` phones that saw traffic."""

    def __init__(self, per_phone: int = 100, max_phones: int = 200_000) -> None:
        self.per_phone = per_phone
        self.max_phones = max_phones
        self._ids = itertools.count(1)
        self._phones: OrderedDict[str, deque[SandboxSms]] = OrderedDict()

    def next_id(self) -> int:
        return next(self._ids)

    def add(self, sms: SandboxSms) -> None:
        box = self._phones.get(sms.phone)
        if box is None:
            box = self._phones[sms.phone] = deque(maxlen=self.per_phone)
            if len(self._phones) > self.max_phones:
                self._phones.popitem(last=False)
        else:
            self._phones.move_to_end(sms.phone)
        box.append(sms)

    def messages(self, phone: str) -> list[SandboxSms]:
        return list(self._phones.get(phone, ()))

    def phones(self, limit: int = 200) -> list[tuple[str, int, SandboxSms]]:
        """(phone, message count, latest message), most recently active first."""
        out = []
        for phone in reversed(self._phones):
            box = self._phones[phone]
            if box:
                out.append((phone, len(box), box[-1]))
            if len(out) >= limit:
                break
        return out

    def last_provider(self, phone: str) -> str:
        for sms in reversed(self._phones.get(phone, ())):
            if sms.direction == "out":
                return sms.provider
        return "tencent"
