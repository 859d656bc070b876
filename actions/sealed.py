"""Seal a secret slot value so that Rasa's tracker store holds only ciphertext.

The binding form needs the phone number for one more turn (until the ID digits arrive), and the
only place a form keeps values between turns is a slot, which Rasa stores. The action server
therefore puts the phone there encrypted (Fernet: AES-CBC + HMAC, with a timestamp) under a key
derived from ``SESSION_SECRET``, which Rasa never sees; ``rasa_ext.redaction`` keeps sealed values
and hides any other digits in these slots. A sealed value older than ``MAX_AGE_S`` is refused,
so an abandoned form cannot be resumed days later.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "sealed:"  # must match rasa_ext.redaction.SEALED_PREFIX
MAX_AGE_S = 15 * 60


def _fernet(secret: str) -> Fernet:
    # Domain-separated key: the same secret signs console sessions, never with this derivation.
    key = hashlib.sha256(b"bankcare/slot-seal/v1\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, secret: str) -> str:
    return PREFIX + _fernet(secret).encrypt(value.encode()).decode()


def unseal(token: object, secret: str, max_age_s: int = MAX_AGE_S) -> str | None:
    """The sealed value, or None if ``token`` is not a valid, fresh seal made with ``secret``."""
    if not isinstance(token, str) or not token.startswith(PREFIX):
        return None
    try:
        return _fernet(secret).decrypt(token[len(PREFIX) :].encode(), ttl=max_age_s).decode()
    except (InvalidToken, ValueError):
        return None
