"""Times as a French reader expects them on paper (issue #15, point 18).

Receipts and acks record UTC (``issued_at``, ISO 8601, signed); what is
printed for people is the local time of the zone named by
``$DOSSIERKIT_TIMEZONE`` (an IANA name such as ``America/Cayenne`` or
``Indian/Reunion``), else ``Europe/Paris`` — the zone of most French
establishments, and a fixed one, so the same receipt prints the same time
on a server that runs in UTC. The zone is always stated next to the time.
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


def zone() -> tuple[str, dt.tzinfo]:
    """The zone printed times use: ``$DOSSIERKIT_TIMEZONE`` or Europe/Paris
    (an unknown name falls back to Europe/Paris rather than failing a receipt)."""
    name = os.environ.get(ENV_VAR) or DEFAULT_ZONE
    try:
        return name, zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return DEFAULT_ZONE, zoneinfo.ZoneInfo(DEFAULT_ZONE)


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
    offset = t.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}"
    fr = f"{t.day} {_MONTHS_FR[t.month - 1]} {t.year} à {t.hour} h {t.minute:02d} " \
         f"({_ZONE_FR.get(name, name)}, {offset})"
    en = f"{t.day} {_MONTHS_EN[t.month - 1]} {t.year}, {t.hour:02d}:{t.minute:02d} " \
         f"({_ZONE_EN.get(name, name)}, {offset})"
    return fr, en


def local_date(stamp: str) -> str:
    """The local calendar date of the UTC *stamp*, ISO (``2026-12-01``)."""
    value = parse_utc(stamp)
    return value.astimezone(zone()[1]).date().isoformat() if value else stamp
