"""The providers' per-number frequency limits (same number: 1 per 30 s, 5 per hour, 10 per day)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    name: str  # thirty_seconds | hour | day
    seconds: float
    limit: int


DEFAULT_WINDOWS = (Window("thirty_seconds", 30, 1), Window("hour", 3600, 5), Window("day", 86400, 10))


class FrequencyLimiter:
    """Sliding windows per phone number; a rejected attempt does not count."""

    def __init__(self, windows: tuple[Window, ...] = DEFAULT_WINDOWS) -> None:
        self.windows = windows
        self._longest = max(w.seconds for w in windows)
        self._most = max(w.limit for w in windows)
        self._sent: dict[str, deque[float]] = {}

    def exceeded(self, phone: str, now: float) -> Window | None:
        """The first window ``phone`` has used up at ``now``, or None when it may receive one more."""
        times = self._sent.get(phone)
        if not times:
            return None
        while times and times[0] <= now - self._longest:
            times.popleft()
        for window in self.windows:
            if sum(1 for t in times if t > now - window.seconds) >= window.limit:
                return window
        return None

    def record(self, phone: str, now: float) -> None:
        times = self._sent.get(phone)
        if times is None:
            if len(self._sent) > 500_000:
                self._forget_idle(now)
            times = self._sent[phone] = deque(maxlen=self._most)
        times.append(now)

    def _forget_idle(self, now: float) -> None:
        idle = [p for p, t in self._sent.items() if not t or t[-1] <= now - self._longest]
        for phone in idle:
            del self._sent[phone]
