"""Feishu / Lark event security: the request signature and AES-256-CBC decryption.

- Signature: ``X-Lark-Signature`` = hex(sha256(timestamp + nonce + encrypt_key + raw body)),
  with ``X-Lark-Request-Timestamp`` and ``X-Lark-Request-Nonce``; sent whenever an
  Encrypt Key is configured (not on the URL-verification challenge).
- Encryption: ``{"encrypt": base64(iv ‖ AES-256-CBC(key=sha256(encrypt_key), iv, PKCS#7(json)))}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16


class DecryptError(ValueError):
    """The body is not something Feishu encrypted with our key."""


def signature(*, timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def signature_matches(*, timestamp: str, nonce: str, encrypt_key: str, body: bytes, given: str) -> bool:
    expected = signature(timestamp=timestamp, nonce=nonce, encrypt_key=encrypt_key, body=body)
    return hmac.compare_digest(expected, given.strip().lower())


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("not base64") from None
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise DecryptError("bad length")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:BLOCK])).decryptor()
    padded = decryptor.update(raw[BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptError("bad padding (wrong key?)") from None
