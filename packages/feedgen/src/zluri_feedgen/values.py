"""Deterministic values: hashes, ids, timestamps and decimal text.

Every derived value is a pure function of (seed, what, index), so nothing about transactions
needs remembering between days. Timestamps are epoch seconds internally; formatting them by hand
is ~5x faster than datetime."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, timedelta

_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """splitmix64 finaliser: cheap, well-spread, deterministic."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def seed_salt(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest(), "big")


def bill_token(prefix: str, h: int) -> str:
    """A BILL-style uuid such as ``txr_`` + 26 chars of base32hex (0-9a-v), like the real feed."""
    raw = ((h << 64) | mix64(h ^ 0x7F4A7C15)).to_bytes(16, "big")
    return prefix + base64.b32hexencode(raw).decode().lower()[:26]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


M48 = (1 << 48) - 1
_ODD_A, _ODD_B = 0x9E3779B97F4B & M48 | 1, 0xC2B2AE3D27D5 | 1
_INV_A, _INV_B = pow(_ODD_A, -1, 1 << 48), pow(_ODD_B, -1, 1 << 48)


def scramble48(x: int) -> int:
    """A bijection on 48 bits, so (day, index) hides in an id yet can be read back."""
    x = (x * _ODD_A) & M48
    x ^= x >> 24
    return (x * _ODD_B) & M48


def unscramble48(x: int) -> int:
    x = (x * _INV_B) & M48
    x ^= x >> 24
    return (x * _INV_A) & M48


encode_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

# Timestamps
_EPOCH = date(1970, 1, 1)
_HMS = tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
_DAYS: dict[int, str] = {}


def _stamp(epoch: int) -> str:
    day, second = divmod(epoch, 86400)
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = (_EPOCH + timedelta(days=day)).isoformat()
    return f"{text}T{_HMS[second]}"


def ts_helpdesk(epoch: int) -> str:  # Freshservice: 2022-05-26T08:26:55Z
    return _stamp(epoch) + "Z"


def ts_spend(epoch: int) -> str:  # BILL Spend: 2024-09-23T17:53:44.000+00:00
    return _stamp(epoch) + ".000+00:00"


def ts_truth(epoch: int) -> str:
    return _stamp(epoch) + "+00:00"


def midnight(d: date) -> int:
    return (d - _EPOCH).days * 86400


def decimal_text(minor: int, exponent: int) -> str:
    if exponent == 0:
        return str(minor)
    digits = str(minor).rjust(exponent + 1, "0")
    return f"{digits[:-exponent]}.{digits[-exponent:]}"


def how_many(rate: float, population: int, at_least: int = 1) -> int:
    if rate <= 0 or population <= 0:
        return 0
    return min(population, max(at_least, round(rate * population)))
