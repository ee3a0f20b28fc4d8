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

:func:`iterparse` applies the same rules to a large document without holding
its tree: it walks the containers the caller *descends* into and yields
every other value, whole, as it is read — the elements of a manifest's list
of 50 000 files one at a time (issue #18). The text is decoded a window at a
time; no list or dict of the descended containers is ever built.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
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


def _check_tree(doc: Any, max_depth: int, depth: int = 1) -> None:
    """Depth and string content, iteratively (no recursion to exhaust);
    *depth*: the nesting level of *doc* itself (1 for a document's root)."""
    stack: list[tuple[Any, int]] = [(doc, depth)]
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


# ---------------------------------------------------------------------------
# Streaming: one value at a time


class _Container(str):
    pass


OBJECT = _Container("OBJECT")  # iterparse's value for an object it descends into
ARRAY = _Container("ARRAY")  # … and for an array
_WINDOW = 64 * 1024  # characters decoded ahead (the text is read a window at a time)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_int, parse_float=_float, parse_constant=_constant)


class _Text:
    """The document's text, decoded from its bytes a window at a time;
    ``buf`` is the part not yet consumed (plus what was read ahead)."""

    def __init__(self, data: bytes):
        self._data = memoryview(data)
        self._read = 0  # bytes decoded or pending
        self._pending = b""  # the start of a character cut by the window
        self.buf = ""
        self.eof = not data
        self._lines = 0  # newlines before buf, to name a line and column
        self._column = 0  # characters after the last of them

    def more(self, at_least: int = 0) -> bool:
        """Decode at least *at_least* (or a window's worth of) more bytes, or
        to the end; False at the end."""
        if self.eof:
            return False
        at_least = at_least or _WINDOW
        start = self._read - len(self._pending)
        piece = self._pending + bytes(self._data[self._read:self._read + at_least])
        self._read = min(self._read + at_least, len(self._data))
        self.eof = self._read >= len(self._data)
        try:
            text, used = codecs.utf_8_decode(piece, "strict", self.eof)
        except UnicodeDecodeError as exc:
            raise _Refused(f"not UTF-8 at byte {start + exc.start}") from exc
        self._pending = piece[used:]
        self.buf += text
        return True

    def drop(self, pos: int) -> None:
        head = self.buf[:pos]
        newlines = head.count("\n")
        if newlines:
            self._lines += newlines
            self._column = len(head) - head.rfind("\n") - 1
        else:
            self._column += len(head)
        self.buf = self.buf[pos:]

    def where(self, pos: int) -> str:
        newlines = self.buf.count("\n", 0, pos)
        column = pos - self.buf.rfind("\n", 0, pos) if newlines else self._column + pos + 1
        return f"line {self._lines + newlines + 1} column {column}"


class _Walker:
    def __init__(self, data: bytes, descend: Callable[[tuple], bool], max_depth: int, max_element: int | None):
        self.text = _Text(data)
        self.pos = 0
        self.descend = descend
        self.max_depth = max_depth
        self.max_element = max_element

    def fail(self, msg: str) -> _Refused:
        return _Refused(f"{msg} at {self.text.where(self.pos)}")

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end)."""
        text = self.text
        while True:
            self.pos = _WHITESPACE.match(text.buf, self.pos).end()
            if self.pos < len(text.buf):
                return text.buf[self.pos]
            if not text.more():
                return ""

    def value(self, path: tuple, limit: int | None) -> Any:
        """One whole value at pos, parsed by the json module with the strict hooks."""
        text = self.text
        if self.pos > _WINDOW:
            text.drop(self.pos)
            self.pos = 0
        while True:
            buf = text.buf
            try:
                value, end = _DECODER.raw_decode(buf, self.pos)
                if end < len(buf) or text.eof:
                    break  # a number or literal ending at the window's edge may go on
            except json.JSONDecodeError as exc:
                # Only a value running to the window's edge may be cut by it:
                # an unterminated string, or an error within a literal's length
                # (-Infinity) or an escape's of the end.
                if text.eof or not (exc.msg.startswith("Unterminated string") or exc.pos >= len(buf) - 10):
                    self.pos = exc.pos
                    raise self.fail(exc.msg) from exc
            if limit is not None and len(buf) - self.pos > limit:
                raise self.fail(f"an element of more than {limit} characters")
            text.more(max(_WINDOW, len(buf) - self.pos))  # doubling: a long value is re-read O(log n) times
        if limit is not None and end - self.pos > limit:
            raise self.fail(f"an element of more than {limit} characters")
        self.pos = end
        _check_tree(value, self.max_depth, len(path) + 1)
        return value

    def member(self, path: tuple, limit: int | None = None) -> Iterator[tuple[tuple, Any]]:
        c = self.peek()
        if (c == "{" or c == "[") and self.descend(path):
            if len(path) + 1 > self.max_depth:
                raise _Refused(f"nested deeper than {self.max_depth} levels")
            self.pos += 1
            yield from (self.members(path) if c == "{" else self.elements(path))
        elif not c:
            raise self.fail("Expecting value")
        else:
            yield path, self.value(path, limit)

    def members(self, path: tuple) -> Iterator[tuple[tuple, Any]]:
        yield path, OBJECT
        keys: set[str] = set()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.fail("Expecting property name enclosed in double quotes")
            key = self.value(path, None)
            if key in keys:
                raise _Refused(f"duplicate key {key[:40]!r}")
            keys.add(key)
            if self.peek() != ":":
                raise self.fail("Expecting ':' delimiter")
            self.pos += 1
            yield from self.member(path + (key,))
            c = self.peek()
            self.pos += 1
            if c == "}":
                return
            if c != ",":
                self.pos -= 1
                raise self.fail("Expecting ',' delimiter")

    def elements(self, path: tuple) -> Iterator[tuple[tuple, Any]]:
        yield path, ARRAY
        if self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield from self.member(path + (index,), self.max_element)
            index += 1
            c = self.peek()
            self.pos += 1
            if c == "]":
                return
            if c != ",":
                self.pos -= 1
                raise self.fail("Expecting ',' delimiter")

    def document(self) -> Iterator[tuple[tuple, Any]]:
        yield from self.member(())
        if self.peek():
            raise self.fail("Extra data")


def iterparse(data: bytes, *, what: str, max_bytes: int, descend: Callable[[tuple], bool],
              max_depth: int = MAX_DEPTH, max_element: int | None = None,
              path: object | None = None) -> Iterator[tuple[tuple, Any]]:
    """Parse *data* with the rules of :func:`loads`, yielding ``(path, value)``
    in document order without building the containers *descend* accepts.

    *path* of a value is the tuple of keys and indexes leading to it (``()``
    for the root). At an object or array whose path ``descend(path)`` accepts,
    ``(path, OBJECT)`` or ``(path, ARRAY)`` comes first, then each member or
    element in turn (descended into or not); any other value is yielded whole.
    An element of a descended array larger than *max_element* characters is
    refused. Errors are :class:`StrictJSONError` naming *what*, raised when
    the reading reaches them: the caller sees the values before a defect,
    so it must not act on them before the iteration ends.
    """
    if len(data) > max_bytes:
        raise StrictJSONError(what, f"{len(data)} bytes, more than the {max_bytes} this document may hold",
                              path=path)
    try:
        yield from _Walker(data, descend, max_depth, max_element).document()
    except _Refused as exc:
        raise StrictJSONError(what, str(exc), path=path) from exc
    except RecursionError as exc:
        raise StrictJSONError(what, f"nested deeper than {max_depth} levels", path=path) from exc
    except ValueError as exc:  # anything else the decoder refuses: still bad input, never a crash
        raise StrictJSONError(what, type(exc).__name__, path=path) from exc


def loads_outline(data: bytes, *, what: str, max_bytes: int, descend: Callable[[tuple], bool],
                  keep: Callable[[tuple], bool], max_depth: int = MAX_DEPTH, max_element: int | None = None,
                  path: object | None = None) -> Any:
    """The document :func:`loads` would return, without the values *keep*
    refuses (each still read and checked by :func:`iterparse`): a
    manifest's summary without its 50 000 file records, for instance.
    *keep* is asked for values inside descended containers only."""
    root: Any = None
    open_: dict[tuple, Any] = {}  # the descended containers by path (a few: the walk is depth-first)
    for at, value in iterparse(data, what=what, max_bytes=max_bytes, descend=descend, max_depth=max_depth,
                               max_element=max_element, path=path):
        if at and not keep(at):
            continue
        if value is OBJECT or value is ARRAY:
            value = {} if value is OBJECT else []
            open_[at] = value
        if not at:
            root = value
            continue
        parent = open_.get(at[:-1])
        if parent is None:  # inside a container *keep* refused
            continue
        if isinstance(parent, list):
            parent.append(value)
        else:
            parent[at[-1]] = value
    return root
