"""WeChat callback signatures and WXBizMsgCrypt-compatible message encryption.

The algorithm is the one WeChat publishes with its ``WXBizMsgCrypt`` samples:

* ``signature`` = sha1 of the lexicographically sorted strings token, timestamp, nonce
  (plus the ``Encrypt`` value for ``msg_signature`` in safe mode), hex encoded.
* AES-256-CBC with key = base64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding
  to 32-byte blocks (not AES's 16), plaintext = 16 random bytes + 4-byte big-endian length
  + message + AppId.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeChat pads to 32 bytes although the AES block is 16; both sides must agree.
_PAD_BLOCK = 32
_RANDOM_PREFIX = 16


class CryptoError(ValueError):
    """A ciphertext, key or AppId did not check out. Messages never contain plaintext."""


def make_signature(*parts: str) -> str:
    """Return WeChat's sha1 signature of ``parts`` (sorted, concatenated, hex encoded).

    Args:
        *parts: token, timestamp, nonce and, for ``msg_signature``, the ``Encrypt`` value.
    """
    joined = "".join(sorted(parts))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 - mandated by WeChat


def check_signature(expected: str, *parts: str) -> bool:
    """Compare ``expected`` with the signature of ``parts`` in constant time.

    The comparison is on bytes so non-ASCII junk in the query string compares as
    unequal instead of raising.
    """
    computed = make_signature(*parts).encode("ascii")
    return hmac.compare_digest(computed, expected.lower().encode("utf-8", "surrogateescape"))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Turn the 43-character EncodingAESKey into the 32-byte AES key.

    Raises:
        CryptoError: the key is not 43 base64 characters decoding to 32 bytes.
    """
    if len(encoding_aes_key) != 43:
        raise CryptoError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise CryptoError("EncodingAESKey must decode to 32 bytes")
    return key


def _pkcs7_pad(data: bytes) -> bytes:
    amount = _PAD_BLOCK - (len(data) % _PAD_BLOCK)
    return data + bytes([amount]) * amount


def _pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    amount = data[-1]
    if amount < 1 or amount > _PAD_BLOCK or amount > len(data):
        raise CryptoError("bad padding")
    if data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad padding")
    return data[:-amount]


class MessageCrypto:
    """Encrypts and decrypts message bodies for one Official Account.

    Args:
        encoding_aes_key: the 43-character EncodingAESKey from the WeChat admin console.
        app_id: the account's AppId; decrypted messages must carry exactly this value.
    """

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        self._key = decode_aes_key(encoding_aes_key)
        self._iv = self._key[:16]
        self._app_id = app_id.encode("utf-8")

    def encrypt(self, plaintext: str | bytes, *, random_prefix: bytes | None = None) -> str:
        """Encrypt ``plaintext`` and return the base64 ``Encrypt`` value.

        Args:
            plaintext: the XML (or echo string) to encrypt.
            random_prefix: 16 bytes to use instead of fresh randomness (test vectors only).
        """
        body = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        prefix = os.urandom(_RANDOM_PREFIX) if random_prefix is None else random_prefix
        if len(prefix) != _RANDOM_PREFIX:
            raise CryptoError("random prefix must be 16 bytes")
        data = _pkcs7_pad(prefix + struct.pack(">I", len(body)) + body + self._app_id)
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        """Decrypt an ``Encrypt`` value and return the message bytes.

        Raises:
            CryptoError: bad base64, length, padding, length field, or a different AppId.
        """
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("ciphertext is not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext length is not a multiple of the AES block")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        plain = _pkcs7_unpad(decryptor.update(raw) + decryptor.finalize())
        content = plain[_RANDOM_PREFIX:]
        if len(content) < 4:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CryptoError("length field exceeds plaintext")
        message = content[4 : 4 + length]
        from_app_id = content[4 + length :]
        if not hmac.compare_digest(from_app_id, self._app_id):
            raise CryptoError("AppId mismatch")
        return message
