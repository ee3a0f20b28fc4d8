"""The check engine: findings, rule registry, profiles.

Profiles are data (TOML under ``templates/profiles/``): an ordered list of
rule uses, each naming a registered rule, its level, its code and its
parameters. Rules are small Python functions registered with :func:`rule`;
they read a :class:`CheckContext` and yield :class:`Finding` objects. New
capabilities (images, packages) plug in by registering rules and adding
lines to a profile — the engine does not change.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dossierkit.errors import InputError
from dossierkit.model import DocumentRecord, Dossier, ImageInstance
from dossierkit.resources import profile_path

LEVELS = ("error", "warning", "info")


@dataclass
class Finding:
    level: str  # error | warning | info
    code: str  # stable, documented in docs/findings.md
    message: str  # one human line, no traceback
    file: str | None = None  # workspace-relative path, document id or source path
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "code": self.code, "message": self.message, "file": self.file,
                "rule": self.rule}


@dataclass
class RuleSpec:
    """One use of a rule in a profile."""

    use: str
    code: str
    level: str
    message: str | None = None  # optional override of the rule's message
    params: dict[str, Any] = field(default_factory=dict)

    def finding(self, message: str, file: str | None = None, *, level: str | None = None,
                code: str | None = None) -> Finding:
        return Finding(level or self.level, code or self.code, self.message.format(detail=message)
                       if self.message else message, file, self.use)


@dataclass
class Profile:
    name: str
    title: str
    rules: list[RuleSpec]


RuleFunc = Callable[["CheckContext", RuleSpec], Iterable[Finding]]
_RULES: dict[str, RuleFunc] = {}


def rule(name: str) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function under *name* (the ``use`` key in profiles)."""

    def deco(fn: RuleFunc) -> RuleFunc:
        _RULES[name] = fn
        return fn

    return deco


class CheckContext:
    """What a rule may look at. Expensive reads are cached per run."""

    def __init__(self, workspace: Any, profile: Profile, today: dt.date | None = None):
        self.workspace = workspace
        self.profile = profile
        self.today = today or dt.date.today()
        self.cache: dict[str, Any] = {}

    @property
    def root(self) -> Path:
        return self.workspace.root

    @property
    def dossier(self) -> Dossier:
        return self.workspace.dossier

    @property
    def documents(self) -> list[DocumentRecord]:
        if "documents" not in self.cache:
            self.cache["documents"] = self.workspace.documents()
        return self.cache["documents"]

    @property
    def images(self) -> list[ImageInstance]:
        if "images" not in self.cache:
            self._load_images()
        return self.cache["images"]

    @property
    def images_index(self) -> dict[str, Any]:
        """The image index without its ``instances`` (see :attr:`images`)."""
        if "images_index" not in self.cache:
            self._load_images()
        return self.cache["images_index"]

    def _load_images(self) -> None:
        # One parse for both views; the raw instance dicts are not kept
        # beside their records (per-file memory, issue #6).
        self.cache["images"], self.cache["images_index"] = self.workspace.images_and_index()

    def documents_of(self, kind: str) -> list[DocumentRecord]:
        return [d for d in self.documents if d.kind == kind]

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def load_profile(name_or_path: str | os.PathLike) -> Profile:
    """Load a profile by bundled name (``second-opinion``) or from a TOML path."""
    p = Path(name_or_path)
    if not (p.suffix == ".toml" and p.exists()):
        p = profile_path(str(name_or_path))
        if not p.exists():
            raise InputError(f"unknown check profile {str(name_or_path)!r}",
                             hint="use a bundled profile name such as second-opinion, or a path to a .toml file")
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read profile ({exc})", path=p) from exc
    meta = data.get("profile", {})
    specs = []
    for i, r in enumerate(data.get("rule", []), 1):
        r = dict(r)
        try:
            use, code, level = r.pop("use"), r.pop("code"), r.pop("level")
        except KeyError as exc:
            raise InputError(f"rule #{i} lacks {exc.args[0]!r}", path=p, hint="each [[rule]] needs use, code, level") \
                from exc
        if level not in LEVELS:
            raise InputError(f"rule #{i} ({code}): level {level!r} is not one of {', '.join(LEVELS)}", path=p)
        if use not in _RULES:
            raise InputError(f"rule #{i} ({code}): unknown rule {use!r}", path=p,
                             hint=f"known rules: {', '.join(sorted(_RULES))}")
        specs.append(RuleSpec(use=use, code=code, level=level, message=r.pop("message", None), params=r))
    return Profile(name=meta.get("name", p.stem), title=meta.get("title", p.stem), rules=specs)


@dataclass
class CheckReport:
    profile: str
    findings: list[Finding]
    checked_at: str

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def complete(self) -> bool:
        return not self.errors

    @property
    def status(self) -> str:
        return "complete" if self.complete else "incomplete"

    def counts(self) -> dict[str, int]:
        return {lvl: sum(1 for f in self.findings if f.level == lvl) for lvl in LEVELS}

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "status": self.status, "checked_at": self.checked_at,
                "counts": self.counts(), "findings": [f.to_dict() for f in self.findings]}


def run_profile(ctx: CheckContext) -> list[Finding]:
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    findings: list[Finding] = []
    for spec in ctx.profile.rules:
        findings.extend(_RULES[spec.use](ctx, spec))
    # Stable order: errors first, then by profile order (sort is stable).
    return sorted(findings, key=lambda f: order[f.level])
