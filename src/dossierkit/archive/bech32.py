"""Bech32 (BIP 173), the text form of age keys: ``age1…`` recipients and
``AGE-SECRET-KEY-1…`` identities. Only what age needs: no length limit,
one case per string."""

from __future__ import annotations

from collections.abc import Iterable

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: Iterable[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for v in data:
        acc = (acc << frombits) | v
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (tobits - bits)) & maxv)
    elif not pad and (bits >= frombits or ((acc << (tobits - bits)) & maxv)):
        return None
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    five = _convertbits(data, 8, 5, True)
    chk = _polymod(_hrp_expand(hrp) + five + [0] * 6) ^ 1
    return hrp + "1" + "".join(_CHARSET[d] for d in five + [(chk >> 5 * (5 - i)) & 31 for i in range(6)])


def bech32_decode(text: str) -> tuple[str, bytes] | None:
    """``(hrp, data)``, or None if *text* is not valid bech32 (bad checksum, mixed case…)."""
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or any(c not in _CHARSET for c in text[pos + 1:]):
        return None
    hrp, data = text[:pos], [_CHARSET.index(c) for c in text[pos + 1:]]
    if _polymod(_hrp_expand(hrp) + data) != 1:
        return None
    raw = _convertbits(data[:-6], 5, 8, False)
    return None if raw is None else (hrp, bytes(raw))
