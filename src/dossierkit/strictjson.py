"""Strict reading of the JSON we receive or sign (manifest, seal, receipts, acks, journal).

``json.loads`` accepts documents that two verifiers may read differently or
that end in an internal error: duplicate keys (the last one wins, another
parser keeps the first), ``NaN``/``Infinity``, ``1e400``, integers of any
length (a 5 000-digit one raises ``ValueError``), lone surrogates
(``"\\ud800"``), ``"\\u0000"``, nesting deep enough for ``RecursionError``.
:func:`loads` refuses each of them as bad input — an
:class:`~dossierkit.errors.IntegrityError` (exit 3) with one line — and
accepts exactly the I-JSON subset (RFC 7493) dossierkit writes:

* a UTF-8 document no larger than the caller's bound;
* objects with distinct keys, at most :data:`MAX_DEPTH` levels of nesting;
* integers within ±(2**53 − 1) (RFC 8785's domain); no fraction or exponent:
  dossierkit writes no floats, so a number with one is refused;
* strings without NUL and without lone surrogates.

What passes re-serialises to one RFC 8785 (JCS) form, which is what the
signatures cover (dossierkit.trust.signing, docs/security.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

from dossierkit.errors import IntegrityError

MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_INT_CHARS = len(str(MAX_SAFE_INTEGER)) + 1  # a sign
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


class StrictJSONError(IntegrityError):
    """Bad JSON; ``reason`` is the short cause without the document's name."""

    def __init__(self, what: str, reason: str, *, path: object | None = None):
        self.reason = reason
        super().__init__(f"{what}: not valid JSON ({reason})", path=path)


class _Refused(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key[:40]!r}")
            seen.add(key)
    return obj


def _int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS or abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise _Refused(f"integer out of range ({text[:20]}{'…' if len(text) > 20 else ''})")
    return value


def _float(text: str) -> float:
    raise _Refused(f"number with a fraction or exponent ({text[:20]}{'…' if len(text) > 20 else ''})")


def _constant(text: str) -> float:
    raise _Refused(f"{text} is not a JSON number")


def _check_tree(doc: Any, max_depth: int) -> None:
    """Depth and string content, iteratively (no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            bad = _BAD_CHARS.search(value)
            if bad:
                raise _Refused("a NUL character in a string" if bad.group() == "\x00"
                               else "a lone surrogate in a string")
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                raise _Refused(f"nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    stack.append((key, depth))
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def loads(data: bytes, *, what: str, max_bytes: int, max_depth: int = MAX_DEPTH,
          path: object | None = None) -> Any:
    """Parse *data* strictly; raise :class:`StrictJSONError` (exit 3) naming *what*."""
    if len(data) > max_bytes:
        raise StrictJSONError(what, f"{len(data)} bytes, more than the {max_bytes} this document may hold",
                              path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(what, f"not UTF-8 at byte {exc.start}", path=path) from exc
    try:
        doc = json.loads(text, object_pairs_hook=_pairs, parse_int=_int, parse_float=_float,
                         parse_constant=_constant)
        _check_tree(doc, max_depth)
    except _Refused as exc:
        raise StrictJSONError(what, str(exc), path=path) from exc
    except json.JSONDecodeError as exc:
        raise StrictJSONError(what, f"{exc.msg} at line {exc.lineno} column {exc.colno}", path=path) from exc
    except RecursionError as exc:
        raise StrictJSONError(what, f"nested deeper than {max_depth} levels", path=path) from exc
    except ValueError as exc:  # anything else the decoder refuses: still bad input, never a crash
        raise StrictJSONError(what, type(exc).__name__, path=path) from exc
    return doc
