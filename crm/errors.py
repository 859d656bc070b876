"""Domain errors with machine-readable codes; each service turns them into answers in one place."""

from __future__ import annotations


class CrmError(Exception):
    code = "crm_error"


class NotFound(CrmError):
    code = "not_found"


class NotVerified(CrmError):
    """The channel identity is not bound to a verified customer: no account data may be shown."""

    code = "not_verified"


class BindingLocked(CrmError):
    code = "binding_locked"

    def __init__(self, minutes_left: int) -> None:
        super().__init__(f"binding locked for {minutes_left} more minutes")
        self.minutes_left = minutes_left
