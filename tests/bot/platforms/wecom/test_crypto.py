"""WeCom's callback crypto, byte for byte: the documented vector, and wechatpy's WeChatCrypto both ways."""

from __future__ import annotations

import base64
import json

import pytest
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from bot.platforms.wecom.crypto import CryptoError, WeComCipher, signature
from tests.platforms.wecom.peer import AES_KEY

VECTOR = {
    "token": "123456",
    "key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "plain": '{"msgid":"m1","aibotid":"AIBOTID","chatid":"CHATID","chattype":"group","from":{"userid":"USERID"},'
    '"msgtype":"text","text":{"content":"@RobotA hello"}}',
    "encrypt": "9s4gMv99m88kKTh/H8IdkJHBCxrLKr9F8p2i3dePDzCL1FjQfAeP5R5gStCHjuPauW8Ry2Tbf6WlXqC5qc0mr+f+eFDv4RTQF0y2yKIi5"
    "XPM2FwF22C6iA2/QVmEoZLr9n4hZGzd019VPYdhVVA3rS0OkiJ2fovrv61azmLn7ngN5LzTjCCXTVgVdujw0EmFc7HhiN4jeiZI2kWKkYZa+B7S0/"
    "1U0oYXs5IsofqIdRP5eiGRaG7JZ3qDUsDEiH/E",
    "signature": "0e9ad5bf38faa6cff1590d85636803720dea8af1",
}


def test_the_documented_vector() -> None:
    cipher = WeComCipher(VECTOR["key"])
    assert cipher.encrypt(VECTOR["plain"], random=b"1234567890123456") == VECTOR["encrypt"]
    assert signature(VECTOR["token"], "1700000000", "nonce123", VECTOR["encrypt"]) == VECTOR["signature"]
    assert signature("tok123", "1700000000", "nonce1", "ENCRYPT") == "bda9aa71d062c80536583dde015d77c9a4c26568"
    assert cipher.decrypt(VECTOR["encrypt"]) == VECTOR["plain"]


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 31, 44, 45, 100, 1000])
def test_wechatpy_and_we_read_each_other(size: int) -> None:
    """Every length around the 32-byte padding boundaries, Chinese included, in both directions."""
    peer, ours = WeChatCrypto("tok", AES_KEY, ""), WeComCipher(AES_KEY)
    plain = json.dumps({"text": ("订单x" * size)[:size]}, ensure_ascii=False)
    xml = xmltodict.parse(peer.encrypt_message(plain, "nonce1", "1700000000"))["xml"]
    assert ours.decrypt(xml["Encrypt"]) == plain
    assert xml["MsgSignature"] == signature("tok", "1700000000", "nonce1", xml["Encrypt"])
    encrypted = ours.encrypt(plain)
    assert peer.decrypt_message({"Encrypt": encrypted}, signature("tok", "1", "n", encrypted), "1", "n") == plain
    with pytest.raises(InvalidSignatureException):
        peer.decrypt_message({"Encrypt": encrypted}, "0" * 40, "1", "n")


def test_what_we_did_not_encrypt_for_this_robot_is_refused() -> None:
    ours = WeComCipher(AES_KEY)
    for_a_corp = WeComCipher(AES_KEY, receive_id="ww-acme").encrypt("{}")  # an app's callback, not the robot's
    other_key = WeComCipher("a" * 43).encrypt("{}")
    flipped = bytearray(base64.b64decode(ours.encrypt("{}")))
    flipped[-1] ^= 1
    for encrypted in (for_a_corp, other_key, base64.b64encode(bytes(flipped)).decode(), "@@@", "", "AAAA"):
        with pytest.raises(CryptoError):
            ours.decrypt(encrypted)
