"""``dossierkit demo``: the whole flow on the bundled sample dossier.

A clear sequence of steps over one :class:`DemoRun`; each step reads what
the previous ones left and records its part of the summary. Later steps
(image import, pack, verify, receipt) append to :data:`STEPS`.

The demo folder is recreated on every run. It carries a marker file, and a
folder that is neither empty nor marked is refused rather than deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dossierkit.check import run_checks
from dossierkit.errors import ExitCode, OutputError
from dossierkit.gather import import_images
from dossierkit.gather.documents import add_documents
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.resources import samples_dir
from dossierkit.trace.flows import ack_for_package, pack_and_record, receipt_for_package, verify_and_record, \
    verify_journal
from dossierkit.trace.reply import init_reply, pack_reply, restrict_reply, story, story_lines
from dossierkit.trace.secrets import open_secrets, pack_protection
from dossierkit.trust.keys import generate_keys, load_signing_key
from dossierkit.trust.store import TrustStore
from dossierkit.workspace import Workspace, init_workspace, read_toml_file

MARKER = ".dossierkit-demo"
MARKER_TEXT = "This folder is rebuilt by `dossierkit demo`; its contents are deleted on the next run.\n"


@dataclass
class DemoRun:
    directory: Path
    samples: Path
    progress: Progress
    log: Callable[[str], None]
    workspace: Workspace | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int = ExitCode.OK


def prepare_directory(run: DemoRun) -> None:
    """Recreate the demo folder; refuse to delete anything that is not a demo."""
    d = run.directory
    if d.is_symlink() or (d.exists() and not d.is_dir()):
        raise OutputError("exists and is not a folder", path=d, hint="choose another demo folder")
    if d.is_dir() and any(d.iterdir()):
        if not (d / MARKER).is_file():
            raise OutputError("is not empty and is not a previous dossierkit demo", path=d,
                              hint="choose a new or empty folder; nothing was deleted")
        try:
            shutil.rmtree(d)
        except OSError as exc:
            raise OutputError(f"cannot remove the previous demo ({exc.strerror or exc})", path=d) from exc
    try:
        d.mkdir(parents=True, exist_ok=True)
        (d / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot create the demo folder ({exc.strerror or exc})", path=d) from exc
    run.summary["directory"] = str(d)


def create_workspace(run: DemoRun) -> None:
    data = read_toml_file(run.samples / "dossier.toml")
    # A fresh id and creation time per run, as a real workspace would get.
    data.pop("id", None)
    data.pop("created", None)
    # The patient tells the second practitioner of a refusal later: the way
    # back shows the reply with and without it (reply_both_ways).
    data["restrictions"] = []
    run.workspace = init_workspace(run.directory / "workspace", data)
    run.summary["workspace"] = str(run.workspace.root)
    run.summary["dossier_id"] = run.workspace.dossier.id
    run.log(f"1. workspace created: {run.workspace.root} (dossier {run.workspace.dossier.id}, fictional patient)")


def add_sample_documents(run: DemoRun) -> None:
    assert run.workspace is not None
    entries = read_toml_file(run.samples / "documents.toml").get("document", [])
    added = []
    for e in entries:  # one call per kind; each call validates before copying
        added += add_documents(run.workspace, [run.samples / e["file"]], kind=e["kind"], progress=run.progress)
    run.summary["documents"] = [{"id": r.id, "kind": r.kind, "loinc": r.loinc, "title": r.title, "date": r.date,
                                 "pages": r.pages, "sha256": r.sha256} for r in added]
    run.log(f"2. {len(added)} documents added: " + ", ".join(f"{r.id} {r.kind}" for r in added))


def import_sample_images(run: DemoRun) -> None:
    assert run.workspace is not None
    report = import_images(run.workspace, [run.samples / "images" / "cd"], progress=run.progress)
    data = report.to_dict()
    run.summary["images"] = {k: data[k] for k in ("imported", "duplicates", "skipped", "problems", "patients",
                                                  "studies", "series", "instances", "study_list")}
    run.log(f"3. images imported from the sample patient CD: {report.imported} images, "
            f"{data['studies']} studies; skipped {data['skipped']['total']} non-image files "
            f"({', '.join(f'{k} {v}' for k, v in data['skipped']['by_type'].items())})")
    if report.exit_code:
        run.exit_code = ExitCode.INCOMPLETE


def check_dossier(run: DemoRun) -> None:
    assert run.workspace is not None
    report = run_checks(run.workspace)
    run.summary["check"] = report.to_dict()
    c = report.counts()
    run.log(f"4. check ({report.profile}): {report.status} — {c['error']} error(s), {c['warning']} warning(s), "
            f"{c['info']} info")
    for f in report.findings:
        run.log(f"   {f.level}: {f.code}: {f.message}")
    if not report.complete:
        run.exit_code = ExitCode.INCOMPLETE


def pack_dossier(run: DemoRun) -> None:
    """Pack with a demo signing key and a generated passphrase, both kept in
    the demo folder (never the user's own keys), as ``dossierkit pack`` does
    (trace.flows.pack_and_record: the pack is journaled)."""
    assert run.workspace is not None
    if run.exit_code != ExitCode.OK:
        run.log("5. pack skipped: the dossier is incomplete")
        return
    keys = generate_keys(run.directory / "keys")
    protection = pack_protection(generate=True, password_out=run.directory / "package-password.txt")
    packed = pack_and_record(run.workspace, run.directory / "dossier.zip", protection=protection,
                             key=load_signing_key(keys.signing_key), journal_file=run.workspace.journal_path,
                             progress=run.progress)
    res = packed.result
    run.summary["package"] = packed.to_dict()
    run.log(f"5. packed and read back: {res.package} ({res.size / 1e6:.1f} MB, WinZip AES-256; passphrase in "
            f"{protection.password_out}; signer {res.signer_fingerprint[:16]})")


def trust_store_path(run: DemoRun) -> Path:
    """The receiving side's trust store of the demo (never the user's own)."""
    return run.directory / "trusted-senders.toml"


def verify_dossier(run: DemoRun) -> None:
    """Verify the package as the receiving hospital's ``dossierkit verify``
    does (journaled): it first trusts the sender's key explicitly, as a
    receiver does once it compared the fingerprint with the printed receipt
    (``dossierkit trust add``), in the demo folder's own trust store."""
    pkg = run.summary.get("package")
    if not pkg or run.workspace is None:
        return
    sender = run.workspace.dossier.sender
    TrustStore(trust_store_path(run)).add(pkg["signer_fingerprint"],
                                          (sender.establishment or sender.name) if sender else "demo sender")
    secrets = open_secrets(pkg["package"], password_file=pkg["password_file"])
    report = verify_and_record(pkg["package"], secrets, trust_store=trust_store_path(run),
                               journal_file=run.workspace.journal_path, progress=run.progress)
    run.summary["verify"] = report.to_dict()
    run.log(f"6. verify: {'all checks hold' if report.ok else 'FAILED'} "
            f"({', '.join(f'{k} {v}' for k, v in run.summary['verify']['checks'].items())}); signed by "
            f"{report.signer.describe() if report.signer else '?'}")
    if not report.ok:
        run.exit_code = ExitCode.INTEGRITY


def receipt_and_ack(run: DemoRun) -> None:
    """The sender's receipt (demo key), then the recipient's acknowledgement
    (a second demo key), both in ``receipts/``; every step in the workspace
    journal, which is verified against both."""
    pkg = run.summary.get("package")
    if not pkg or run.workspace is None or run.exit_code != ExitCode.OK:
        return
    journal_path, out = run.workspace.journal_path, run.directory / "receipts"
    secrets = open_secrets(pkg["package"], password_file=pkg["password_file"])
    receipt = receipt_for_package(pkg["package"], channel="usb-patient", out=out, secrets=secrets,
                                  key=load_signing_key(run.directory / "keys" / "signing-key.pem"),
                                  journal_file=journal_path, progress=run.progress)
    run.summary["receipt"] = receipt.to_dict()
    run.log(f"7. receipt {receipt.id}: {receipt.pdf_path} (printable, FR/EN) and {receipt.json_path} (signed)")
    recipient = generate_keys(run.directory / "recipient-keys")
    second = run.workspace.dossier.second_opinion
    # The second practitioner's hospital keeps its own journal.
    ack = ack_for_package(pkg["package"], out=out, key=load_signing_key(recipient.signing_key), secrets=secrets,
                          receipt_file=receipt.json_path, expect_signer=pkg["signer_fingerprint"],
                          by=second.name if second else None, journal_file=second_journal(run),
                          progress=run.progress, trust_store=trust_store_path(run))
    verification = ack.document["verification"]
    run.summary["ack"] = {**ack.to_dict(), "result": verification["result"],
                          "completeness": verification["completeness"]}
    run.log(f"8. acknowledgement {ack.id} ({verification['result']}, {verification['completeness']}): "
            f"{ack.pdf_path} and {ack.json_path}")
    report = verify_journal(journal_path, [receipt.json_path])
    second_report = verify_journal(second_journal(run), [ack.json_path])
    anchors_ok = all(anchor["ok"] for anchor in (report.anchors or []) + (second_report.anchors or []))
    run.summary["journal"] = {"path": str(journal_path), "entries": report.entries, "ok": report.ok,
                              "anchors_ok": anchors_ok, "second_path": str(second_journal(run)),
                              "second_entries": second_report.entries, "second_ok": second_report.ok}
    run.log(f"9. journals: {journal_path} ({report.entries} entries) and the second practitioner's "
            f"{second_journal(run)} ({second_report.entries}): chains "
            f"{'intact' if report.ok and second_report.ok else 'BROKEN'}, receipt and acknowledgement anchors "
            f"{'present' if anchors_ok else 'MISSING'}")
    if not (verification["intact"] and report.holds and second_report.holds):
        run.exit_code = ExitCode.INTEGRITY


def second_journal(run: DemoRun) -> Path:
    return run.directory / "second-opinion" / "journal.jsonl"


def reply_both_ways(run: DemoRun) -> None:
    """The way back (INCa step 6): the second practitioner replies from the
    package received, once as asked (initial physician and treating GP, copy
    to the patient) and once after the patient refused that the initial
    physician be informed (recorded by the second practitioner: treating GP
    and patient only). Hospital A acknowledges the reply addressed to its
    physician; both journals then tell the story."""
    pkg, ack = run.summary.get("package"), run.summary.get("ack")
    if not pkg or not ack or run.workspace is None or run.exit_code != ExitCode.OK:
        return
    second = run.directory / "second-opinion"
    key = load_signing_key(run.directory / "recipient-keys" / "signing-key.pem")
    letters = {"without": "01-courrier-second-avis.pdf", "with": "02-courrier-second-avis-restreint.pdf"}
    run.summary["replies"] = {}
    for step, variant in ((10, "without"), (11, "with")):
        secrets = open_secrets(pkg["package"], password_file=pkg["password_file"])
        started = init_reply(second / f"reply-{variant}-restriction", pkg["package"], secrets,
                             journal_file=second_journal(run), progress=run.progress,
                             trust_store=trust_store_path(run))
        ws = started.workspace
        add_documents(ws, [run.samples / "reply" / letters[variant]], kind="second-opinion-letter",
                      progress=run.progress)
        add_documents(ws, [run.samples / "reply" / "03-fiche-rcp-2d-avis.pdf"], kind="rcp", progress=run.progress)
        if variant == "with":
            restrict_reply(ws, recorded_by=ws.dossier.sender.name if ws.dossier.sender else "second practitioner",
                           journal_file=second_journal(run))
        packed = pack_reply(ws.root, second / f"out-{variant}-restriction", key=key, channel="mssante",
                            journal_file=second_journal(run), progress=run.progress)
        run.summary["replies"][variant] = packed.to_dict()
        run.log(f"{step}. reply {packed.dossier_id} {variant} the patient's restriction → "
                + "; ".join(f"{', '.join(p.addressees)}: {p.package.parent.name}/{p.package.name}, receipt "
                            f"{p.receipt['id'] if p.receipt else '—'}" for p in packed.packages)
                + (f" (restriction {', '.join(packed.withheld)}: left out of every list)" if packed.withheld else ""))
    first = next(p for p in run.summary["replies"]["without"]["packages"] if p["addressees"] == ["initial-physician"])
    back = ack_for_package(first["package"], out=run.directory / "receipts", key=load_signing_key(
        run.directory / "keys" / "signing-key.pem"), secrets=open_secrets(first["package"],
                                                                           password_file=first["password_file"]),
        receipt_file=first["receipt"]["json"], expect_signer=ack["signer_fingerprint"],
        journal_file=run.workspace.journal_path, progress=run.progress)
    run.summary["reply_ack"] = back.to_dict()
    chains = story([run.workspace.journal_path, second_journal(run)])
    run.summary["story"] = chains
    run.log(f"12. the initial physician's hospital acknowledges the reply ({back.id}); both journals tell the story:")
    for chain in chains:
        run.log("   " + story_lines(chain).replace("\n", "\n   "))
    if not back.document["verification"]["intact"] or not all(c["complete"] for c in chains):
        run.exit_code = ExitCode.INTEGRITY


STEPS: list[Callable[[DemoRun], None]] = [prepare_directory, create_workspace, add_sample_documents,
                                          import_sample_images, check_dossier, pack_dossier, verify_dossier,
                                          receipt_and_ack, reply_both_ways]


def run_demo(directory: str | os.PathLike, progress: Progress = NULL_PROGRESS,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build a fresh demo workspace at *directory* from ``samples/`` and run the
    flow. Returns a JSON-able summary; ``exit_code`` is 0 when every step
    succeeded and the dossier is complete (1 when the check finds errors)."""
    run = DemoRun(directory=Path(directory), samples=samples_dir(), progress=progress, log=log)
    for step in STEPS:
        step(run)
    run.summary["exit_code"] = int(run.exit_code)
    return run.summary
