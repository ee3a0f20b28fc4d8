"""Times as a French reader expects them on paper and on screen (issue #15,
points 18 and 25): the receipt, the ack, INDEX.HTM and README.TXT.

What is signed and journaled stays UTC (``issued_at``, the manifest's
``created``: ISO 8601); what is printed for people is the local time, with
the zone always named next to it. The zone is ``$DOSSIERKIT_TIMEZONE`` (an
IANA name such as ``America/Cayenne`` or ``Indian/Reunion``), else the
machine's own zone when it has a name (``$TZ``, ``/etc/localtime``), else
``Europe/Paris``: a server kept in UTC, as many are, still prints the time
of the French establishment rather than a UTC time no reader expects.
A leaf: ``package/`` (INDEX.HTM, README.TXT), ``trace/`` (receipts) and ``cli/``
(times on a terminal: :func:`on_screen`) use it.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

ENV_VAR = "DOSSIERKIT_TIMEZONE"
DEFAULT_ZONE = "Europe/Paris"
_MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
_ZONE_FR = {"Europe/Paris": "heure de Paris"}
_ZONE_EN = {"Europe/Paris": "Paris time"}
_UTC_NAMES = {"UTC", "ETC/UTC", "ETC/UCT", "UCT", "ZULU", "ETC/ZULU", "GMT", "ETC/GMT", "UNIVERSAL", "ETC/UNIVERSAL"}


def zone() -> tuple[str, dt.tzinfo]:
    """The zone printed times use, and its name (module docstring). An
    unknown name falls back to Europe/Paris rather than failing a receipt."""
    for name in (os.environ.get(ENV_VAR), machine_zone_name(), DEFAULT_ZONE):
        if not name:
            continue
        try:
            return name, zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return DEFAULT_ZONE, zoneinfo.ZoneInfo(DEFAULT_ZONE)


def machine_zone_name() -> str | None:
    """The IANA name of the machine's zone (``$TZ``, else the target of
    ``/etc/localtime``), or None when it has none or is UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            name = os.path.realpath("/etc/localtime")
        except OSError:
            return None
    if "/zoneinfo/" in name:  # a file path: /usr/share/zoneinfo/Europe/Paris
        name = name.split("/zoneinfo/", 1)[1]
    if name.startswith(("posix/", "right/")):
        name = name.split("/", 1)[1]
    if not name or name.startswith("/") or name.upper() in _UTC_NAMES:
        return None
    return name


def parse_utc(stamp: str) -> dt.datetime | None:
    """``2026-11-30T22:58:37Z`` → an aware datetime (None if not that form)."""
    try:
        value = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def local(stamp: str) -> tuple[str, str]:
    """(French, English) local date and time of the UTC *stamp*, zone stated:
    ``("30 novembre 2026 à 23 h 58 (heure de Paris, UTC+01:00)",
    "30 November 2026, 23:58 (Paris time, UTC+01:00)")``. A stamp that is
    not ISO 8601 is returned as found."""
    value = parse_utc(stamp)
    if value is None:
        return stamp, stamp
    name, tz = zone()
    t = value.astimezone(tz)
    offset = _offset(t)
    fr = f"{t.day} {_MONTHS_FR[t.month - 1]} {t.year} à {t.hour} h {t.minute:02d} " \
         f"({_ZONE_FR.get(name, name)}, {offset})"
    en = f"{t.day} {_MONTHS_EN[t.month - 1]} {t.year}, {t.hour:02d}:{t.minute:02d} " \
         f"({_ZONE_EN.get(name, name)}, {offset})"
    return fr, en


def on_screen(stamp: str, *, seconds: bool = False) -> str:
    """The UTC *stamp* as a terminal line shows it: local time, its offset
    stated, ``2026-12-02 05:41 UTC+01:00`` (with *seconds*: ``05:41:07``).
    A stamp that is not ISO 8601 is returned as found."""
    value = parse_utc(stamp)
    if value is None:
        return stamp
    t = value.astimezone(zone()[1])
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " " + _offset(t)


def _offset(t: dt.datetime) -> str:
    """``UTC+01:00`` for an aware datetime."""
    offset = t.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def local_date(stamp: str) -> str:
    """The local calendar date of the UTC *stamp*, ISO (``2026-12-01``)."""
    value = parse_utc(stamp)
    return value.astimezone(zone()[1]).date().isoformat() if value else stamp
