"""Completeness and consistency checks (DESIGN §4).

Use :func:`run_checks`; rules live in the sibling modules and register
themselves with :func:`dossierkit.check.engine.rule`.
"""

from __future__ import annotations

import datetime as dt
import os

from dossierkit.check import consent as _consent  # noqa: F401  (registers rules)
from dossierkit.check import documents as _documents  # noqa: F401
from dossierkit.check import identity as _identity  # noqa: F401
from dossierkit.check import images as _images  # noqa: F401
from dossierkit.check import reply as _reply  # noqa: F401
from dossierkit.check.engine import (CheckContext, CheckReport, Finding, Profile, RuleSpec, load_profile, rule,
                                     run_profile)
from dossierkit.errors import InputError
from dossierkit.workspace import Workspace, utc_now

__all__ = ["run_checks", "CheckReport", "Finding", "Profile", "RuleSpec", "load_profile", "rule", "CheckContext"]


def run_checks(workspace: Workspace | str | os.PathLike, profile: str | None = None,
               today: dt.date | None = None) -> CheckReport:
    """Run the profile (default: the dossier's own, usually ``second-opinion``)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if profile:
        prof = load_profile(profile)
    else:
        name = ws.dossier.profile  # a broken dossier.toml is reported as such, not as a profile problem
        try:
            prof = load_profile(name)
        except InputError as exc:  # the name came from dossier.toml: say so
            raise InputError(f"profile: {exc.message}", path=ws.root / "dossier.toml", hint=exc.hint) from exc
    ctx = CheckContext(ws, prof, today=today)
    return CheckReport(profile=prof.name, findings=run_profile(ctx), checked_at=utc_now())
