"""The way back (INCa step 6, issue #17): the second opinion returned
traceably to the initial physician and the treating GP, with a copy to the
patient — honouring the patient's refusal.

* :func:`init_reply` — ``dossierkit reply init WS --from-package PKG``:
  verify the package received (:func:`flows.verify_and_record`), then start a
  reply workspace from its *signed* manifest: patient, initial physician,
  treating GP, restrictions, and the link to what it answers
  (:class:`dossierkit.model.ReplyOrigin`: dossier id, package SHA-256, the
  sender's signer, the sender's receipt id and our ack id);
* :func:`restrict_reply` — ``reply restrict``: the second physician records
  the patient's refusal (who, when);
* :func:`reply_addressees` — the addressees, derived and never typed;
* :func:`pack_reply` — ``reply pack``: one encrypted package per addressee
  whose secret differs (own passphrase or own age key), each with its receipt;
* :func:`reply_pack_requested` — ``reply pack`` from its options (the
  passphrase file, the signing key file, ``ROLE=age1…`` keys), then
  :func:`pack_reply`;
* :func:`story` — what the journals (both hospitals') say happened to a
  dossier: sent → received → opinion returned → acknowledged;
  :func:`read_journals` — ``journal show``: the journals' entries and that story.

A person a restriction protects (e.g. the initial physician under
``no-copy-to-initial-physician``) is kept out of the reply's dossier.toml,
hence out of its manifest, INDEX.HTM, receipts and journal; the workspace
keeps them in ``index/withheld.json`` only to recognise them (a document or an
addressee naming them is refused).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit import localtime, strictjson
from dossierkit.check import run_checks
from dossierkit.errors import IncompleteError, IntegrityError, OutputError, UntrustedError, UsageError
from dossierkit.model import RESTRICTIONS, ReplyOrigin, RestrictionRecord
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.trace import journal
from dossierkit.trace.channels import check_channel
from dossierkit.trace.flows import ReceiptRequest, Warn, pack_and_record, verify_and_record
from dossierkit.trace.receipt import (REPLY_COPY_ROLES, REPLY_PURPOSE, REPLY_RECIPIENT_ROLES, RESTRICTED_ROLES,
                                      ROLE_FIELDS, ROLE_LABELS, addressees, check_document, load_document,
                                      reply_link_event, summary_from_workspace)
from dossierkit.trace.secrets import PackageSecrets, Protection, SecretSources, pack_protection, secrets_for
from dossierkit.trust.keys import load_signing_key
from dossierkit.workspace import Workspace, init_workspace, new_dossier_id, utc_now

REPLY_PROFILE = "second-opinion-reply"
PACKAGE_STEM = "REPONSE-2D-AVIS"  # neutral: no patient data in a file name
ADDRESSEE_ROLES = (*REPLY_RECIPIENT_ROLES, *REPLY_COPY_ROLES)


# ---------------------------------------------------------------------------
# reply init


@dataclass
class ReplyStarted:
    """What :func:`init_reply` did."""

    workspace: Workspace
    origin: ReplyOrigin
    restrictions: list[str]
    addressees: list[str]  # role keywords, in order
    verify: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace.root), "dossier_id": self.workspace.dossier.id,
                "reply_to": self.origin.to_dict(), "restrictions": self.restrictions,
                "addressees": self.addressees, "verify": self.verify}


def _origin_ack(journal_path: Path, package_sha256: str) -> dict[str, Any] | None:
    """Our latest ack of the package received, from our journal."""
    if not journal_path.exists():
        return None
    found = None
    for e in journal.read_entries(journal_path):
        if e.get("event") == "ack" and e.get("package_sha256") == package_sha256:
            found = e
    return found


def init_reply(root: str | os.PathLike, package: str | os.PathLike, secrets: PackageSecrets | SecretSources, *,
               expect_signer: str | None = None, ack_file: str | os.PathLike | None = None,
               journal_file: str | os.PathLike | None = None, progress: Progress = NULL_PROGRESS,
               warn: Warn | None = None, trust_store: str | os.PathLike | None = None) -> ReplyStarted:
    """Verify *package* (the dossier received) and start a reply workspace at
    *root* from its signed manifest. The link (:class:`ReplyOrigin`) names the
    dossier id, the package SHA-256, the signer, and — from *ack_file* (our
    signed ack) or else our journal's ``ack`` entry of this package — our ack
    id and the sender's receipt id. A package that does not verify starts
    nothing (IntegrityError, exit 3), nor one signed by an unknown key
    (UntrustedError, exit 6: *expect_signer* or the *trust_store* must know
    the sender); nothing is written then but the journal's ``verify`` entry.
    *secrets*: the package's, or their sources
    (:class:`~dossierkit.trace.secrets.SecretSources`), read first thing."""
    secrets = secrets_for(package, secrets)
    root = Path(root)
    if (root / "dossier.toml").exists():
        raise OutputError("a workspace already exists here", path=root, hint="choose a new folder for the reply")
    ack_doc = None
    if ack_file is not None:
        ack_doc, raw = load_document(ack_file)
        check_document(ack_doc, raw)
        if ack_doc.get("type") != "dossierkit-ack":
            raise UsageError("--ack expects our acknowledgement of the package (AK-….json)", path=ack_file)
    report = verify_and_record(package, secrets.require(), expect_signer=expect_signer, journal_file=journal_file,
                               progress=progress, warn=warn, trust_store=trust_store, keep_manifest=True)
    if report.verdict == "untrusted":
        raise UntrustedError(f"the package is authentic but its signer ({report.signer_fingerprint}) is not a "
                             "known sender: no reply is started from it", path=package,
                             hint="compare the fingerprint with the sender's receipt, then `dossierkit trust add` "
                                  "(or give --expect-signer)")
    if not report.ok or report.manifest_json is None:
        problems = "; ".join(f"{f.check}: {f.message}" for f in report.failures[:3])
        raise IntegrityError(f"the package does not verify: no reply is started from it — {problems}",
                             path=package)
    if ack_doc is not None and ack_doc["package"]["sha256"] != report.package_sha256:
        raise UsageError(f"--ack {ack_doc.get('ack_id')} is for another package", path=ack_file)
    manifest = strictjson.loads(report.manifest_json, what="DOSSIER/MANIFEST.JSON",
                                max_bytes=len(report.manifest_json))
    dossier = manifest.get("dossier") or {}
    if dossier.get("purpose") == REPLY_PURPOSE:
        raise UsageError("this package is itself a second-opinion reply: acknowledge it (`dossierkit ack`) "
                         "rather than reply to it", path=package)
    ack = _origin_ack(journal.resolve_path(journal_file), report.package_sha256)
    origin = ReplyOrigin(
        dossier_id=str(dossier.get("id") or report.dossier_id), package_sha256=report.package_sha256,
        manifest_sha256=report.manifest_sha256, signer=report.signer_fingerprint,
        receipt_id=((ack_doc.get("receipt") or {}).get("receipt_id") if ack_doc else (ack or {}).get("receipt_id")),
        ack_id=ack_doc["ack_id"] if ack_doc else (ack or {}).get("ack_id"), verified_at=utc_now())
    restrictions = [r for r in dossier.get("restrictions") or [] if r in RESTRICTIONS]
    data: dict[str, Any] = {
        "id": new_dossier_id(), "purpose": REPLY_PURPOSE, "profile": REPLY_PROFILE,
        "patient": dossier.get("patient"), "restrictions": restrictions,
        "restriction_records": [{"code": r, "source": "dossier"} for r in restrictions],
        "reply_to": origin.to_dict(),
    }
    # The reply's sender is the second practitioner the dossier was sent to.
    for k in ("initial_physician", "treating_gp", "second_opinion"):
        if isinstance(dossier.get(k), dict):
            data[k] = dossier[k]
    if isinstance(dossier.get("second_opinion"), dict):
        data["sender"] = dossier["second_opinion"]
    withheld = {}
    for r in restrictions:
        fld = ROLE_FIELDS[RESTRICTED_ROLES[r]] if r in RESTRICTED_ROLES else None
        if fld and fld in data:
            withheld[fld] = data.pop(fld)
    ws = init_workspace(root, data)
    if withheld:
        ws.save_withheld(withheld)
    journal.append(journal.resolve_path(journal_file, workspace=ws.root), {
        "event": "reply-init", "dossier_id": ws.dossier.id, **reply_link_event(origin.to_dict()),
        "signer": origin.signer, "restrictions": restrictions})
    return ReplyStarted(ws, origin, restrictions, [a.role for a in reply_addressees(ws)], report.to_dict())


# ---------------------------------------------------------------------------
# reply restrict


def restrict_reply(root: Workspace | str | os.PathLike, *, recorded_by: str,
                   restriction: str = "no-copy-to-initial-physician", recorded_at: str | None = None,
                   journal_file: str | os.PathLike | None = None) -> RestrictionRecord:
    """The second physician records the patient's refusal (INCa step 6):
    *restriction* is added if new (or confirmed if carried over from the
    dossier), with *recorded_by* and *recorded_at* (UTC, default now). The
    protected person moves out of dossier.toml (kept in the workspace only to
    be recognised). Journaled (``event: restriction``, code only)."""
    ws = root if isinstance(root, Workspace) else Workspace(root)
    d = ws.dossier
    if d.reply_to is None:
        raise UsageError("not a reply workspace (no [reply_to]): start one with `dossierkit reply init`",
                         path=ws.root)
    if restriction not in RESTRICTIONS:
        raise UsageError(f"unknown restriction {restriction!r} — allowed: {', '.join(sorted(RESTRICTIONS))}")
    if not recorded_by or not recorded_by.strip():
        raise UsageError("--recorded-by: say who recorded the patient's request (e.g. \"Pr Sophie Marchand\")")
    old = d.restriction_record(restriction)
    record = RestrictionRecord(restriction, recorded_by.strip(), recorded_at or utc_now(),
                               old.source if old else "reply")
    withheld = ws.withheld()
    fld = ROLE_FIELDS.get(RESTRICTED_ROLES.get(restriction, ""))
    person = getattr(d, fld) if fld else None
    if person is not None:
        withheld[fld] = person.to_dict()
        ws.save_withheld(withheld)  # first: the name is never lost, and dossier.toml then loses it
        setattr(d, fld, None)
    if restriction not in d.restrictions:
        d.restrictions.append(restriction)
    d.restriction_records = [r for r in d.restriction_records if r.code != restriction] + [record]
    ws.save_dossier(d)
    journal.append(journal.resolve_path(journal_file, workspace=ws.root), {
        "event": "restriction", "dossier_id": d.id, "restriction": restriction, "source": record.source,
        **reply_link_event(d.reply_to.to_dict())})
    return record


# ---------------------------------------------------------------------------
# Addressees


@dataclass(frozen=True)
class Addressee:
    """One addressee of the reply: a role keyword (``initial-physician``,
    ``treating-gp``, ``patient``) or free text given with ``--to``."""

    role: str
    recipient: bool  # False: a copy (the patient)


def reply_addressees(ws: Workspace, extra: Sequence[str] = ()) -> list[Addressee]:
    """The reply's addressees, derived from the dossier: the initial physician
    and the treating GP, a copy to the patient — minus anyone a restriction
    protects. *extra* (free text or role keywords) is checked the same way:
    naming a protected person is refused (UsageError, exit 2)."""
    d = ws.dossier
    protected_roles = {RESTRICTED_ROLES[r] for r in d.restrictions if r in RESTRICTED_ROLES}
    out = [Addressee(role, role in REPLY_RECIPIENT_ROLES) for role in ADDRESSEE_ROLES
           if role not in protected_roles and (role == "patient" or getattr(d, ROLE_FIELDS[role]) is not None)]
    if extra:
        summary = summary_from_workspace(ws)
        addressees(summary, list(extra), [])  # raises when an extra names a protected person
        known = {a.role for a in out}
        for spec in extra:
            spec = spec.strip()
            if spec in protected_roles:
                raise UsageError(f"{spec} is excluded by the patient's restriction")
            if spec not in known:
                out.append(Addressee(spec, True))
                known.add(spec)
    return out


def _check_keyed_roles(ws: Workspace, keyed: Mapping[str, Any], names: list[str]) -> None:
    d = ws.dossier
    for role in keyed:
        restriction = next((r for r in d.restrictions if RESTRICTED_ROLES.get(r) == role), None)
        if restriction:
            raise UsageError(f"--recipient {role}=…: the {ROLE_LABELS[role][1]} is excluded by the patient's "
                             f"restriction {restriction!r}; the reply goes to {', '.join(names)}")
        if role not in names:
            raise UsageError(f"--recipient {role}=…: {role} is not an addressee of this reply "
                             f"(addressees: {', '.join(names)})")


# ---------------------------------------------------------------------------
# reply pack


@dataclass
class ReplyPackage:
    addressees: list[str]
    package: Path
    sha256: str
    container: str
    password_file: Path | None
    receipt: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"addressees": self.addressees, "package": str(self.package), "package_sha256": self.sha256,
                "container": self.container, "password_file": str(self.password_file) if self.password_file
                else None, "receipt": self.receipt}


@dataclass
class ReplyPacked:
    dossier_id: str
    reply_to: dict[str, Any]
    packages: list[ReplyPackage] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)  # restrictions that removed an addressee

    def to_dict(self) -> dict[str, Any]:
        return {"dossier_id": self.dossier_id, "reply_to": self.reply_to, "withheld": self.withheld,
                "packages": [p.to_dict() for p in self.packages]}


def pack_reply(root: Workspace | str | os.PathLike, out: str | os.PathLike, *, key: Ed25519PrivateKey,
               channel: str, recipients: Mapping[str, Sequence[str]] | None = None,
               shared: Protection | None = None, extra_to: Sequence[str] = (),
               journal_file: str | os.PathLike | None = None, allow_incomplete: bool = False,
               reason: str | None = None, progress: Progress = NULL_PROGRESS, warn: Warn | None = None
               ) -> ReplyPacked:
    """Pack the reply for its derived addressees into folder *out*:

    * *shared* protection (one passphrase for all): one package, one receipt
      naming every addressee;
    * otherwise one package per addressee — encrypted to its age keys
      (*recipients*: role → ``age1…``) or with its own generated passphrase
      (``out/passwords/ROLE.txt``, handed separately) — each with its receipt
      (that addressee as recipient, the others as copies).

    Everything is checked before anything is written: the addressees (a key
    for a protected person is refused), the dossier's completeness, the
    target paths. Layout: ``out/ROLE/REPONSE-2D-AVIS.zip|.age``,
    ``out/receipts/RC-….json|.pdf``."""
    check_channel(channel)  # before any package is written
    ws = Workspace(root.root if isinstance(root, Workspace) else root)  # read afresh: what is packed is on disk
    d = ws.dossier
    if d.reply_to is None:
        raise UsageError("not a reply workspace (no [reply_to]): start one with `dossierkit reply init`",
                         path=ws.root)
    who = reply_addressees(ws, extra_to)
    names = [a.role for a in who]
    recipients = dict(recipients or {})
    _check_keyed_roles(ws, recipients, names)
    if shared is not None and recipients:
        raise UsageError("choose one passphrase for all (--password-file) or keys per addressee (--recipient), "
                         "not both")
    report = run_checks(ws)
    if not report.complete and not allow_incomplete:
        first = report.errors[0]
        raise IncompleteError(f"the reply is incomplete ({len(report.errors)} error(s)); first: {first.code}: "
                              f"{first.message}", path=ws.root, hint="run `dossierkit check DIR` and complete it")
    out = Path(out)
    groups = [(names, shared)] if shared is not None else [([n], None) for n in names]
    plans = []
    for i, (group, protection) in enumerate(groups, 1):
        folder = out / (group[0] if len(group) == 1 and group[0] in ADDRESSEE_ROLES else
                        ("all" if len(group) > 1 else f"addressee-{i}"))
        keys = recipients.get(group[0]) if len(group) == 1 else None
        target = folder / f"{PACKAGE_STEM}{'.age' if keys else '.zip'}"
        pw_out = None if protection is not None or keys else out / "passwords" / f"{folder.name}.txt"
        for p in (target, pw_out):
            if p is not None and p.exists():
                raise OutputError("already exists", path=p, hint="reply packages are never overwritten: choose "
                                                                 "another -o folder")
        plans.append((group, protection, keys, target, pw_out))
    # Every folder made before the first package: one that cannot be (a file in its place, a read-only
    # parent) stops the reply with nothing written; an empty folder made for it is taken away again.
    folders = [out / "receipts"]
    for _group, _protection, _keys, target, pw_out in plans:
        folders += [target.parent] + ([pw_out.parent] if pw_out is not None else [])
    made = _make_folders(folders)
    packed = ReplyPacked(d.id, d.reply_to.to_dict(), withheld=[r for r in d.restrictions if r in RESTRICTED_ROLES])
    try:
        _pack_plans(ws, plans, packed, names, out, key=key, channel=channel, journal_file=journal_file,
                    allow_incomplete=allow_incomplete, reason=reason, progress=progress, warn=warn)
    except BaseException:
        if not packed.packages:
            _remove_empty(made)
        raise
    return packed


def _make_folders(folders: list[Path]) -> list[Path]:
    """Create *folders* (and their missing parents); the ones created, in
    order. A failure removes those again and raises OutputError."""
    made: list[Path] = []
    for folder in folders:
        for p in [folder, *folder.parents][::-1]:
            if p.is_dir():
                continue
            problem = "a file is where this folder goes" if p.exists() else None
            if problem is None:
                try:
                    p.mkdir()
                    made.append(p)
                    continue
                except OSError as exc:
                    problem = f"cannot create the folder ({exc.strerror})"
            _remove_empty(made)
            raise OutputError(problem, path=p, hint="nothing was written; choose another -o folder")
    return made


def _remove_empty(folders: list[Path]) -> None:
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            pass


def _pack_plans(ws: Workspace, plans: list[tuple], packed: ReplyPacked, names: list[str], out: Path, *,
                key: Ed25519PrivateKey, channel: str, journal_file: str | os.PathLike | None, allow_incomplete: bool,
                reason: str | None, progress: Progress, warn: Warn | None) -> None:
    """One package, receipt and journal entry per plan of :func:`pack_reply`, into *packed*."""
    for group, protection, keys, target, pw_out in plans:
        if protection is None:
            protection = pack_protection(recipients=list(keys)) if keys else \
                pack_protection(generate=True, password_out=pw_out)
        others = [n for n in names if n not in group]
        to = group if len(group) == 1 else [n for n in names if n != "patient"] or ["patient"]
        copies = others if len(group) == 1 else [n for n in names if n not in to]
        result = pack_and_record(ws, target, protection=protection, key=key, journal_file=journal_file,
                                 receipt=ReceiptRequest(out / "receipts", channel, list(to), list(copies)),
                                 allow_incomplete=allow_incomplete, reason=reason, progress=progress, warn=warn)
        packed.packages.append(ReplyPackage(list(group), result.result.package, result.result.sha256,
                                            result.result.container, protection.password_out,
                                            result.receipt.to_dict() if result.receipt else None))


@dataclass
class ReplyPackRequest:
    """What ``dossierkit reply pack`` is asked, as its options say it."""

    channel: str
    recipients: Sequence[str] = ()  # ``ROLE=age1…`` (:func:`addressee_keys`)
    password_file: Path | None = None  # one passphrase for all addressees (one package)
    password_env: str | None = None  # the same, from an environment variable
    to: Sequence[str] = ()  # extra addressees
    signing_key: Path | None = None  # default: the keys folder's signing-key.pem
    allow_incomplete: bool = False
    reason: str | None = None
    journal_file: Path | None = None


def reply_pack_requested(root: Workspace | str | os.PathLike, out: str | os.PathLike, request: ReplyPackRequest,
                         *, progress: Progress = NULL_PROGRESS, warn: Warn | None = None) -> ReplyPacked:
    """``dossierkit reply pack`` from its options: the shared passphrase read
    from ``request.password_file`` or ``request.password_env``
    (:func:`~dossierkit.trace.secrets.pack_protection`),
    the signing key loaded, the ``ROLE=age1…`` keys parsed (:func:`addressee_keys`),
    in that order, then :func:`pack_reply`."""
    shared = pack_protection(password_file=request.password_file, password_env=request.password_env) \
        if request.password_file or request.password_env else None
    key = load_signing_key(request.signing_key)
    return pack_reply(root, out, key=key, channel=request.channel, shared=shared,
                      recipients=addressee_keys(request.recipients), extra_to=request.to,
                      journal_file=request.journal_file, allow_incomplete=request.allow_incomplete,
                      reason=request.reason, progress=progress, warn=warn)


# ---------------------------------------------------------------------------
# The whole story, from one or both hospitals' journals

STAGES = ("sent", "received", "opinion returned", "acknowledged")


def story(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """What the journals *paths* say happened to each dossier sent for a
    second opinion, in order: ``sent`` (the sender's receipt), ``received``
    (the second practitioner's ack), ``opinion returned`` (the reply's
    receipts), ``acknowledged`` (the ack of the reply). Each step lists the
    ids it rests on and where it was read (journal, entry); a step known
    only because a later document names it says so (``named_by``). Ids and
    hashes only, like the journals."""
    entries = []
    for path in paths:
        for e in journal.read_entries(journal.locate(path)):
            entries.append((str(path), e))
    origins: dict[str, dict[str, Any]] = {}

    def origin(dossier_id: str | None) -> dict[str, Any] | None:
        if not dossier_id:
            return None
        return origins.setdefault(dossier_id, {"dossier_id": dossier_id, "package_sha256": set(),
                                               "receipt_id": set(), **{s: [] for s in STAGES}})

    def step(o: dict[str, Any], stage: str, src: str, e: dict[str, Any], **ids: Any) -> None:
        o[stage].append({"journal": src, "seq": e.get("seq"), "time": e.get("time"),
                         **{k: v for k, v in ids.items() if v}})

    replies = {}  # reply dossier id → origin
    for src, e in entries:  # first pass: the dossiers sent and the replies started
        if e.get("event") == "receipt" and not e.get("reply_to_dossier_id"):
            o = origin(e.get("dossier_id"))
            o["package_sha256"].add(e.get("package_sha256"))
            o["receipt_id"].add(e.get("receipt_id"))
        if e.get("reply_to_dossier_id"):
            o = origin(e["reply_to_dossier_id"])
            o["package_sha256"].add(e.get("reply_to_package_sha256"))
            if e.get("reply_to_receipt_id"):
                o["receipt_id"].add(e["reply_to_receipt_id"])
            if e.get("event") in ("reply-init", "receipt", "pack") and e.get("dossier_id"):
                replies[e["dossier_id"]] = o
    for src, e in entries:
        event, link = e.get("event"), e.get("reply_to_dossier_id")
        if event == "receipt" and not link and e.get("dossier_id") in origins:
            step(origins[e["dossier_id"]], "sent", src, e, receipt_id=e.get("receipt_id"),
                 package_sha256=e.get("package_sha256"))
        elif event == "ack" and not link:
            o = next((o for o in origins.values() if e.get("package_sha256") in o["package_sha256"]
                      or e.get("receipt_id") in o["receipt_id"]), None)
            if o is not None:
                step(o, "received", src, e, ack_id=e.get("ack_id"), receipt_id=e.get("receipt_id"),
                     result=e.get("result"))
        elif event == "receipt" and link:
            step(origins[link], "opinion returned", src, e, reply_dossier_id=e.get("dossier_id"),
                 receipt_id=e.get("receipt_id"), package_sha256=e.get("package_sha256"))
        elif event == "ack" and link:
            o = origins[link]
            step(o, "acknowledged", src, e, ack_id=e.get("ack_id"), receipt_id=e.get("receipt_id"),
                 result=e.get("result"))
            # What the reply (a signed document we verified) says of the earlier steps.
            if e.get("reply_to_receipt_id"):
                step(o, "sent", src, e, receipt_id=e["reply_to_receipt_id"], named_by=e.get("ack_id"))
            if e.get("reply_to_ack_id"):
                step(o, "received", src, e, ack_id=e["reply_to_ack_id"], named_by=e.get("ack_id"))
            if e.get("receipt_id"):
                step(o, "opinion returned", src, e, receipt_id=e["receipt_id"], named_by=e.get("ack_id"))
        elif event == "reply-init" and link:
            o = origins[link]
            if e.get("reply_to_receipt_id"):
                step(o, "sent", src, e, receipt_id=e["reply_to_receipt_id"], named_by=e.get("dossier_id"))
            if e.get("reply_to_ack_id"):
                step(o, "received", src, e, ack_id=e["reply_to_ack_id"], named_by=e.get("dossier_id"))
    out = []
    for o in origins.values():
        stages = {s: _dedupe(o[s]) for s in STAGES}
        out.append({"dossier_id": o["dossier_id"], "stages": stages,
                    "complete": all(stages[s] for s in STAGES)})
    return out


def _dedupe(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per id: an entry read in a journal beats the same id named by a later document."""
    def ident(x: dict[str, Any]) -> Any:
        return x.get("ack_id") or x.get("receipt_id")

    direct = {ident(x) for x in items if "named_by" not in x}
    seen, out = set(), []
    for x in items:
        i = ident(x)
        if ("named_by" in x and i in direct) or (i, "named_by" in x) in seen:
            continue
        seen.add((i, "named_by" in x))
        out.append(x)
    return out


def addressee_keys(specs: Sequence[str]) -> dict[str, list[str]]:
    """``--recipient ROLE=age1…`` values (repeatable; several keys per role
    allowed) → ``{role: [keys]}``. A malformed value is a UsageError."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        role, sep, key = spec.partition("=")
        role, key = role.strip(), key.strip()
        if not sep or not role or not key.startswith("age1"):
            raise UsageError(f"--recipient {spec!r}: write ROLE=age1… with ROLE one of {', '.join(ADDRESSEE_ROLES)}")
        out.setdefault(role, []).append(key)
    return out


@dataclass
class JournalsRead:
    """What :func:`read_journals` read: each journal with its entries, in
    the order given, and the :func:`story` they tell."""

    journals: list[tuple[Path, list[dict[str, Any]]]]
    story: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """``journal show --json``: the first journal's entries and the story;
        several journals: each one's entries too (``journals``)."""
        first, entries = self.journals[0]
        return {"journal": str(first), "entries": entries, "story": self.story} | (
            {"journals": [{"journal": str(p), "entries": e} for p, e in self.journals]}
            if len(self.journals) > 1 else {})

    def story_text(self) -> list[str]:
        """Each dossier's story as :func:`story_lines` tells it."""
        return [story_lines(chain) for chain in self.story]


def read_journals(files: Sequence[str | os.PathLike] = ()) -> JournalsRead:
    """``dossierkit journal show FILE…``: the journals *files* name — journal
    files or workspace folders; none: the default journal
    (:func:`journal.locate`) —, their entries (ids and hashes only) and the
    story of each dossier they mention (:func:`story`)."""
    paths = [journal.locate(f) for f in files or [None]]
    chains = story(paths)
    return JournalsRead([(p, journal.read_entries(p)) for p in paths], chains)


def _where(item: dict[str, Any]) -> str:
    path = Path(item["journal"])
    src = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    how = f"named by {item['named_by']}" if item.get("named_by") else f"entry {item['seq']}"
    return f"{src} {how}, {localtime.on_screen(str(item.get('time') or ''))}"


def _what(stage: str, item: dict[str, Any]) -> str:
    main = item.get("ack_id") if stage in ("received", "acknowledged") else item.get("receipt_id")
    more = []
    if stage in ("received", "acknowledged") and item.get("receipt_id") and not item.get("named_by"):
        more.append(f"of {item['receipt_id']}")
    if item.get("reply_dossier_id"):
        more.append(f"reply {item['reply_dossier_id']}")
    if item.get("result") and item["result"] != "intact":
        more.append(item["result"].upper())
    return " ".join([str(main), *more])


def story_lines(chain: dict[str, Any]) -> str:
    """The story of one dossier (:func:`story`) as text for an 80-column
    terminal: one line per step, where it was read on the next."""
    head = " → ".join(s if chain["stages"][s] else f"({s}?)" for s in STAGES)
    lines = [f"dossier {chain['dossier_id']}: {head}"]
    for stage in STAGES:
        for item in chain["stages"][stage]:
            lines.append(f"  {stage:<17} {_what(stage, item)}")
            lines.append(f"  {'':<17} {_where(item)}")
    if not chain["complete"]:
        lines.append("  (?: not in these journals — give both hospitals' journals to see the whole story)")
    return "\n".join(lines)
