"""WeCom's callback encryption (WXBizMsgCrypt, doc 101033) as the intelligent robot uses it.

- ``msg_signature`` = hex(sha1(the four strings token, timestamp, nonce, encrypt, sorted, joined));
- ``AESKey`` = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = AESKey[:16];
- plaintext = 16 random bytes ‖ uint32 big-endian length ‖ message (UTF-8) ‖ receiveid, padded with
  PKCS#7 to a multiple of **32** bytes (not AES's 16); ``encrypt`` is its standard Base64.
- The intelligent robot's receiveid is the empty string ("企业内部智能机器人场景中，ReceiveId为''"), so
  nothing follows the message; a trailing id is refused unless it is the one configured.

Checked byte for byte against the vector in the protocol notes and, in the tests, against
wechatpy's ``WeChatCrypto`` (an independent implementation) in both directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads to 32 bytes


class CryptoError(ValueError):
    """A body that WeCom did not encrypt with our key (or for another receiver)."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def signature_matches(token: str, timestamp: str, nonce: str, encrypt: str, given: str) -> bool:
    return hmac.compare_digest(signature(token, timestamp, nonce, encrypt), given.strip().lower())


class WeComCipher:
    def __init__(self, encoding_aes_key: str, receive_id: str = "") -> None:
        self.key = base64.b64decode(encoding_aes_key + "=")
        if len(self.key) != 32:
            raise ValueError("an EncodingAESKey decodes to 32 bytes")
        self.receive_id = receive_id.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str, *, random: bytes | None = None) -> str:
        body = message.encode()
        plain = (random or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.receive_id
        pad = BLOCK - len(plain) % BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("not base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding (another key?)")
        plain = padded[:-pad]
        if len(plain) < 20:
            raise CryptoError("too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("length past the end")
        if plain[20 + length :] != self.receive_id:
            raise CryptoError("for another receiver")
        try:
            return plain[20 : 20 + length].decode()
        except UnicodeDecodeError:
            raise CryptoError("not UTF-8") from None
