"""INDEX.HTM: the bilingual (FR/EN) browsable contents of the root.

Self-contained: inline CSS, no script, no external resource, relative links
only, so it opens offline from a USB key in any browser. It sits inside the
encryption, so it may show the patient's identity. Skeleton and styles:
``templates/package/index.htm``.
"""

from __future__ import annotations

import re
from html import escape
from string import Template
from typing import Any

from dossierkit import localtime
from dossierkit.check.for_recipient import LEVEL_LABELS, recipient_text
from dossierkit.model import DOCUMENT_KINDS, RESTRICTIONS, Dossier, Person, modality_in_words
from dossierkit.package.layout import MediaLayout
from dossierkit.resources import templates_dir

_DOC_ID = re.compile(r"DOC\d{4}")
_SEX = {"F": "Féminin / Female", "M": "Masculin / Male", "O": "Autre / Other", "U": "Inconnu / Unknown"}


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _iso(value: str | None) -> str:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or "—"


def _row(label_fr: str, label_en: str, value_html: str) -> str:
    return f'<tr><th>{_e(label_fr)} <span class="en">/ {_e(label_en)}</span></th><td>{value_html}</td></tr>'


def _person(p: Person | None) -> str:
    if p is None:
        return "—"
    bits = [p.name, p.role, p.establishment, p.email, p.phone]
    return _e(", ".join(b for b in bits if b))


def _patient_rows(d: Dossier) -> str:
    p = d.patient
    rows = [_row("Nom", "Name", f"<strong>{_e(p.family_name.upper())}</strong> {_e(' '.join(p.given_names))}"),
            _row("Date de naissance", "Birth date", _e(p.birth_date.isoformat())),
            _row("Sexe", "Sex", _e(_SEX.get(p.sex, p.sex)))]
    if p.birth_name:
        rows.append(_row("Nom de naissance", "Birth name", _e(p.birth_name)))
    if p.identifier:
        rows.append(_row("Identifiant", "Identifier", f"{_e(p.identifier.value)} ({_e(p.identifier.system)})"))
    return "\n".join(rows)


_PURPOSES = {"second-opinion": "Second avis thérapeutique / Therapeutic second opinion",
             "second-opinion-reply": "Réponse du second avis (courrier du second praticien) / Second-opinion "
                                     "reply (the second practitioner's letter)"}


def _people_rows(d: Dossier) -> str:
    rows = [_row("Objet", "Purpose", _e(_PURPOSES.get(d.purpose, d.purpose))),
            _row("Expéditeur", "Sender", _person(d.sender))]
    if d.reply_to is not None:  # a reply (issue #17): what it answers, never a protected person
        rows.append(_row("En réponse au dossier", "In reply to dossier",
                         f"{_e(d.reply_to.dossier_id)}<br><code>{_e(d.reply_to.package_sha256)}</code>"))
    else:
        rows.append(_row("Destinataire (second avis)", "Recipient (second opinion)", _person(d.second_opinion)))
    initial = _person(d.initial_physician)
    if d.initial_physician is None and d.has_restriction("no-copy-to-initial-physician"):
        initial = "Non destinataire, à la demande du patient / Not an addressee, at the patient's request"
    rows += [_row("Médecin initial", "Initial physician", initial),
             _row("Médecin traitant", "Treating GP", _person(d.treating_gp))]
    c = d.consent
    consent = "—"
    if c is not None:
        consent = ("Oui / Yes" if c.given else "Non / No") + (f", {_e(c.date.isoformat())}" if c.date else "") \
            + (f", {_e(c.given_by)}" if c.given_by else "")
    rows.append(_row("Consentement à la transmission", "Consent to transmit", consent))
    restr = "<br>".join(_e(RESTRICTIONS.get(r, r)) for r in d.restrictions) or "Aucune / None"
    rows.append(_row("Restrictions", "Restrictions", restr))
    return "\n".join(rows)


def _count(n: int, fr: str, en: str) -> str:
    return f"{n} {fr}{'s' if n > 1 else ''} / {n} {en}{'s' if n > 1 else ''}"


def _completeness(c: dict[str, Any]) -> str:
    """The short verdict at the top; the findings themselves are listed
    after the documents and images (:func:`_findings`), for the recipient."""
    findings = [f for f in c.get("findings") or [] if isinstance(f, dict)]
    warnings = sum(1 for f in findings if f.get("level") == "warning")
    infos = sum(1 for f in findings if f.get("level") == "info")
    more = (f' <a href="#constats">{_e(_count(warnings, "avertissement", "warning"))}, '
            f'{_e(_count(infos, "information", "note"))} — voir en fin de page / see the end of this page</a>'
            if findings else "")
    if c.get("status") == "complete":
        return (f'<p><span class="ok">Complet / Complete</span> — profil / profile {_e(c.get("profile"))}.'
                f'{more}</p>')
    items = "".join(f"<li>{_e(fr)}<br><span class=\"en\">{_e(en)}</span></li>"
                    for fr, en in (recipient_text(f) for f in c.get("waived") or []))
    return (f'<p><span class="warn">Incomplet / Incomplete</span> — transmis malgré les points suivants / '
            f'sent despite the following:</p><ul>{items}</ul>'
            f'<p>Motif donné par l\'expéditeur / Reason given by the sender : {_e(c.get("reason"))}</p>'
            f'<p>{more}</p>')


def _findings(c: dict[str, Any]) -> str:
    """Every finding recorded at pack time, told to the recipient (FR, then
    EN: check.for_recipient), one line per kind of finding with how many
    times it occurs and the documents it names — folded under a
    ``<details>`` (no script) so a long list never pushes the documents
    down the page."""
    findings = [f for f in c.get("findings") or [] if isinstance(f, dict)]
    if not findings:
        return "<p>Aucun point signalé / Nothing to report.</p>"
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(findings, key=lambda f: order.get(str(f.get("level")), 3)):
        grouped.setdefault((str(f.get("level")), str(f.get("code"))), []).append(f)
    rows = []
    for (level, code), group in grouped.items():
        fr, en = recipient_text(group[0])
        label_fr, label_en = LEVEL_LABELS.get(level, (level, level))
        docs = sorted({str(f.get("file")) for f in group if _DOC_ID.fullmatch(str(f.get("file") or ""))})
        where = f'<br><span class="en">{_e(", ".join(f"{d}.PDF" for d in docs))}</span>' if docs else ""
        times = f" (×{len(group)})" if len(group) > 1 else ""
        rows.append(f'<tr><td>{_e(label_fr)}<br><span class="en">{_e(label_en)}</span></td>'
                    f'<td>{_e(fr)}{_e(times)}<br><span class="en">{_e(en)}</span>{where}</td>'
                    f'<td><code>{_e(code)}</code></td></tr>')
    return (f'<details><summary>{_e(_count(len(findings), "point signalé", "finding"))} — cliquer pour '
            f'afficher / click to show</summary>\n<table><tr><th>Niveau <span class="en">/ Level</span></th>'
            f'<th>Constat <span class="en">/ Finding</span></th><th>Code</th></tr>\n' + "\n".join(rows)
            + "\n</table></details>")


def _documents(layout: MediaLayout) -> str:
    if not layout.documents:
        return "<p>Aucun document / No document.</p>"
    rows = []
    for n, d in enumerate(layout.documents, 1):
        r = d.record
        fr, en = DOCUMENT_KINDS.get(r.kind, (None, r.kind, r.kind))[1:]
        rows.append(f'<tr><td>{n}</td><td>{_e(fr)}<br><span class="en">{_e(en)}</span></td>'
                    f'<td class="date">{_e(r.date or "—")}</td><td>{_e(r.title or "—")}</td><td>{_e(r.pages)}</td>'
                    f'<td><a href="{_e(d.path)}">{_e(d.path.rsplit("/", 1)[-1])}</a></td></tr>')
    return ('<table><tr><th>#</th><th>Type <span class="en">/ Kind</span></th><th>Date</th>'
            '<th>Titre <span class="en">/ Title</span></th><th>Pages</th>'
            '<th>Fichier <span class="en">/ File</span></th></tr>\n' + "\n".join(rows) + "\n</table>")


def _studies(layout: MediaLayout) -> str:
    if not layout.studies:
        return "<p>Aucune image / No images.</p>"
    rows = []
    for n, st in enumerate(layout.studies, 1):
        s = st.summary
        modalities = ", ".join(map(modality_in_words, s.modalities)) or "—"
        rows.append(f'<tr><td>{n}</td><td class="date">{_e(_iso(s.date))}</td><td>{_e(modalities)}</td>'
                    f'<td>{_e(s.description or "—")}</td><td>{len(st.series)}</td><td>{st.instance_count}</td></tr>')
        for se in st.series:
            num = se.summary.series_number
            label = f"Série / Series {num}" if num is not None else "Série / Series"
            rows.append(f'<tr class="series"><td></td><td class="indent" colspan="2">{_e(label)} — '
                        f'{_e(modality_in_words(se.summary.modality))}</td><td>{_e(se.summary.description or "")}</td>'
                        f'<td></td><td>{len(se.instances)}</td></tr>')
    return ('<table><tr><th>#</th><th>Date</th><th>Modalité <span class="en">/ Modality</span></th>'
            '<th>Description</th><th>Séries <span class="en">/ Series</span></th><th>Images</th></tr>\n'
            + "\n".join(rows) + "\n</table>")


def render_index(*, dossier: Dossier, layout: MediaLayout, completeness: dict[str, Any], created: str,
                 version: str) -> bytes:
    """INDEX.HTM; *created* is the manifest's UTC stamp, shown in local
    time with its zone (dossierkit.localtime)."""
    created_fr, created_en = localtime.local(created)
    skeleton = (templates_dir() / "package" / "index.htm").read_text(encoding="utf-8")
    html = Template(skeleton).substitute(
        version=_e(version), dossier_id=_e(dossier.id), created_fr=_e(created_fr), created_en=_e(created_en),
        patient_rows=_patient_rows(dossier), people_rows=_people_rows(dossier),
        completeness=_completeness(completeness), findings=_findings(completeness),
        document_count=len(layout.documents), documents=_documents(layout),
        study_count=len(layout.studies), image_count=layout.instance_count, studies=_studies(layout))
    return html.encode("utf-8")
