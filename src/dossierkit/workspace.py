"""The dossier workspace on disk.

Layout (all names neutral; patient data stays inside the files)::

    DIR/dossier.toml            identity, purpose, people, consent, restrictions
    DIR/documents/DOC0001.pdf   PDF copies
    DIR/images/…                DICOM copies (see dossierkit.gather)
    DIR/index/documents.json    document index  (list of DocumentRecord)
    DIR/index/images.json       image index     (see dossierkit.gather)
    DIR/index/withheld.json     a reply's protected persons (kept here, never packed; see dossierkit.trace.reply)
    DIR/journal.jsonl           transmission journal (see dossierkit.trace.journal)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from dossierkit import phi
from dossierkit.errors import DossierkitError, InputError, OutputError
from dossierkit.fsutil import (read_json, read_json_list, read_json_records, write_bytes_atomic, write_json_atomic,
                              write_json_records_atomic)
from dossierkit.model import (DocumentRecord, Dossier, ImageInstance, check_images_index, dossier_from_dict,
                             group_studies)

DOSSIER_FILE = "dossier.toml"
DOCUMENTS_DIR = "documents"
IMAGES_DIR = "images"
INDEX_DIR = "index"
DOCUMENTS_INDEX = "index/documents.json"
IMAGES_INDEX = "index/images.json"
JOURNAL_FILE = "journal.jsonl"
WITHHELD_INDEX = "index/withheld.json"
# What to do about an index of the wrong shape (a record without its sha256, of another type…)
DOCUMENTS_INDEX_HINT = "the workspace index is damaged; restore it from a backup or re-add the documents"
IMAGES_INDEX_HINT = ("the workspace index is damaged; restore it from a backup or import the images again "
                     "(`dossierkit import-images WS --reset SOURCE…`)")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_dossier_id() -> str:
    """Random, PHI-free dossier id, e.g. ``DK-20261123-7F3A9C2E``."""
    return f"DK-{dt.date.today():%Y%m%d}-{secrets.token_hex(4).upper()}"


def _toml_ready(obj: Any) -> Any:
    """Convert ISO date strings of known date fields back to TOML dates."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("birth_date", "date") and isinstance(v, str):
                try:
                    v = dt.date.fromisoformat(v)
                except ValueError:
                    pass
            out[k] = _toml_ready(v)
        return out
    if isinstance(obj, list):
        return [_toml_ready(v) for v in obj]
    return obj


def load_dossier_file(path: str | os.PathLike) -> Dossier:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise InputError("no dossier.toml here", path=path,
                         hint="create the workspace with `dossierkit init DIR`") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=path, hint="fix the syntax at the line shown") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _toml_read_error(exc, path) from exc
    return dossier_from_dict(data, path)


class Workspace:
    """A dossier workspace folder. Cheap to construct; reads lazily."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not (self.root / DOSSIER_FILE).is_file():
            raise InputError("not a dossier workspace (no dossier.toml)", path=self.root,
                             hint="create one with `dossierkit init DIR`")
        self._dossier: Dossier | None = None

    # -- dossier.toml -------------------------------------------------------
    @property
    def dossier(self) -> Dossier:
        if self._dossier is None:
            self._dossier = load_dossier_file(self.root / DOSSIER_FILE)
            phi.register(self._dossier.patient)  # so error lines and traces can mask it
        return self._dossier

    def save_dossier(self, dossier: Dossier) -> None:
        write_bytes_atomic(self.root / DOSSIER_FILE, dump_dossier_toml(dossier))
        self._dossier = dossier

    # -- paths --------------------------------------------------------------
    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def documents_dir(self) -> Path:
        return self.root / DOCUMENTS_DIR

    @property
    def images_dir(self) -> Path:
        return self.root / IMAGES_DIR

    @property
    def journal_path(self) -> Path:
        return self.root / JOURNAL_FILE

    def own_files(self) -> tuple[Path, ...]:
        """What the workspace is made of (dossier.toml, the journal, the index,
        documents and images folders): never an output's place."""
        return (self.root / DOSSIER_FILE, self.journal_path, self.root / INDEX_DIR, self.documents_dir,
                self.images_dir)

    # -- indexes ------------------------------------------------------------
    def documents(self) -> list[DocumentRecord]:
        p = self.root / DOCUMENTS_INDEX
        if not p.exists():
            return []
        return read_json_list(p, DocumentRecord.from_dict, hint=DOCUMENTS_INDEX_HINT)

    def save_documents(self, docs: list[DocumentRecord]) -> None:
        write_json_atomic(self.root / DOCUMENTS_INDEX, [d.to_dict() for d in docs])

    def images_index(self) -> dict[str, Any]:
        """The raw image index: ``{"instances": [...], "problems": [...], ...}``,
        each instance checked (:meth:`ImageInstance.check`)."""
        p = self.root / IMAGES_INDEX
        if not p.exists():
            return {"instances": [], "problems": []}

        def record(d: Any) -> dict[str, Any]:
            ImageInstance.check(d)
            return d
        index, instances = read_json_records(p, "instances", record, object_hook=_share_values(),
                                             hint=IMAGES_INDEX_HINT)
        check_images_index(index, p, IMAGES_INDEX_HINT)
        return {"instances": instances, **index}

    def images(self, *, without: tuple[str, ...] = ()) -> list[ImageInstance]:
        """The image records; *without*: members left at their default
        (``source``, ``origin``: pack needs neither, and they are held for every file, #18)."""
        return self.images_and_index(without=without)[0]

    def images_and_index(self, *, without: tuple[str, ...] = ()) -> tuple[list[ImageInstance], dict[str, Any]]:
        """The image records and the rest of the index (without ``instances``),
        read one record a line: the raw dicts of every instance are never
        all in memory (:func:`~dossierkit.fsutil.read_json_records`)."""
        p = self.root / IMAGES_INDEX
        if not p.exists():
            return [], {"problems": []}

        def record(d: Any) -> ImageInstance:
            if d.__class__ is dict:  # else from_dict says what it is
                for k in without:
                    d.pop(k, None)
            return ImageInstance.from_dict(d)
        index, images = read_json_records(p, "instances", record if without else ImageInstance.from_dict,
                                          object_hook=_share_values(), hint=IMAGES_INDEX_HINT)
        check_images_index(index, p, IMAGES_INDEX_HINT)
        return images, index

    def save_images_index(self, index: dict[str, Any]) -> None:
        write_json_records_atomic(self.root / IMAGES_INDEX, index)

    def withheld(self) -> dict[str, dict[str, Any]]:
        """The persons a restriction protects, by dossier field
        (``initial_physician``…): kept in the workspace to recognise them
        (checks, addressees), out of dossier.toml so nothing packed names them."""
        p = self.root / WITHHELD_INDEX
        return read_json(p) if p.exists() else {}

    def save_withheld(self, withheld: dict[str, dict[str, Any]]) -> None:
        write_json_atomic(self.root / WITHHELD_INDEX, withheld)


# Values most instances of a dossier repeat (one patient, a few studies and
# series): parsed once per distinct value instead of once per file, they no
# longer make the loaded index grow with every image (issue #6; docs/performance.md).
_SHARED_IMAGE_KEYS = ("sop_class_uid", "study_instance_uid", "series_instance_uid", "transfer_syntax",
                      "patient_name", "patient_id", "patient_birth_date", "patient_sex", "study_date",
                      "study_time", "study_id", "study_description", "accession_number", "modality",
                      "series_description", "specific_character_set")


def _share_values():
    memo: dict[str, str] = {}

    def hook(d: dict[str, Any]) -> dict[str, Any]:
        for k in _SHARED_IMAGE_KEYS:
            v = d.get(k)
            if v.__class__ is str:
                d[k] = memo.setdefault(v, v)
        return d
    return hook


def take_instances(index: dict[str, Any]) -> list[ImageInstance]:
    """The records of an image index, removing ``instances`` from *index*:
    each raw dict is freed as soon as its record exists, so the dicts and
    the records are never all in memory together."""
    raw = index.pop("instances", None) or []
    raw.reverse()
    out = []
    while raw:
        out.append(ImageInstance.from_dict(raw.pop()))
    return out


def dump_dossier_toml(dossier: Dossier) -> bytes:
    header = ("# dossierkit workspace — dossier.toml\n"
              "# Contains patient data: keep this folder on protected storage.\n"
              "# Schema: docs/dossier-toml.md\n\n")
    return header.encode() + tomli_w.dumps(_toml_ready(dossier.to_dict())).encode("utf-8")


def init_workspace(root: str | os.PathLike, data: dict[str, Any], *, force: bool = False) -> Workspace:
    """Create a workspace at *root* from a dict shaped like ``dossier.toml``.

    Missing ``id``/``created`` are generated. The data is validated first
    (every problem reported at once); nothing is written if it is invalid.
    """
    root = Path(root)
    data = dict(data)
    data.setdefault("id", new_dossier_id())
    data.setdefault("created", utc_now())
    exists = (root / DOSSIER_FILE).exists()
    if exists and not force:  # before validation: "exists" is the news, not what the options lack
        with contextlib.suppress(DossierkitError):  # its patient registered: a folder named after them is masked
            Workspace(root).dossier  # noqa: B018
        raise OutputError("a workspace already exists here", path=root,
                          hint="to change its patient, people, IDs or restrictions use `dossierkit set "
                               f"{root} …`; --force replaces its dossier.toml with a complete new one")
    try:
        dossier = dossier_from_dict(data, "dossier")
    except InputError as exc:
        if exists:
            raise InputError(f"a workspace already exists here and --force needs a complete dossier: {exc.message}",
                             path=root, hint=f"to change a few fields use `dossierkit set {root} …`") from exc
        raise
    if root.exists() and not root.is_dir():
        raise OutputError("exists and is not a folder", path=root)
    for sub in (DOCUMENTS_DIR, IMAGES_DIR, INDEX_DIR):
        try:
            (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the workspace ({exc.strerror})", path=root) from exc
    write_bytes_atomic(root / DOSSIER_FILE, dump_dossier_toml(dossier))
    return Workspace(root)


def _toml_read_error(exc: OSError | UnicodeDecodeError, path: Path) -> InputError:
    """One line for a TOML file that cannot be read: what is wrong, in words."""
    if isinstance(exc, IsADirectoryError):
        return InputError("is a folder, not a TOML file", path=path, hint="give the dossier.toml file itself")
    if isinstance(exc, UnicodeDecodeError):
        return InputError("is not UTF-8 text", path=path, hint="save it as UTF-8 (a TOML file is UTF-8 text)")
    if isinstance(exc, PermissionError):
        return InputError("cannot be read (permission denied)", path=path, hint="make it readable for this user")
    return InputError(f"cannot be read ({exc.strerror or exc})", path=path)


def read_toml_file(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise InputError("file not found", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _toml_read_error(exc, path) from exc


# ---------------------------------------------------------------------------
# `init` and `set`: the dossier's people, IDs and restrictions from options


PEOPLE = ("initial_physician", "treating_gp", "second_opinion", "sender")


@dataclass
class DossierChanges:
    """What the options of ``init`` and ``set`` say about dossier.toml; None
    or empty leaves a field as it is. Names and dates are text as typed
    (validated by :func:`dossierkit.model.dossier_from_dict`)."""

    family_name: str | None = None
    given_names: str | None = None  # space separated
    birth_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    patient_id: str | None = None
    id_system: str | None = None  # INS-NIR, INS-NIA, IPP, OTHER (default IPP for a new identifier)
    add_other_ids: Sequence[str] = ()
    remove_other_ids: Sequence[str] = ()
    people: dict[str, str] = field(default_factory=dict)  # PEOPLE key -> name
    consent_date: str | None = None
    consent_by: str | None = None
    add_restrictions: Sequence[str] = ()
    remove_restrictions: Sequence[str] = ()

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """A copy of the dossier.toml-shaped *data* with these changes."""
        data = dict(data)
        patient = dict(data.get("patient") or {})
        for key in ("family_name", "given_names", "birth_name", "birth_date", "sex"):
            value = getattr(self, key)
            if value is not None:
                patient[key] = value
        ident = patient.get("identifier")
        ident = dict(ident) if isinstance(ident, dict) else ({"value": ident} if ident else {})
        if self.patient_id:
            ident = {"value": self.patient_id, "system": self.id_system or ident.get("system") or "IPP"}
        elif self.id_system and ident:
            ident["system"] = self.id_system
        if ident:
            patient["identifier"] = ident
        if self.add_other_ids or self.remove_other_ids:
            ids = [str(i) for i in patient.get("other_ids") or []]
            for i in self.add_other_ids:
                if i not in ids:
                    ids.append(i)
            patient["other_ids"] = [i for i in ids if i not in set(self.remove_other_ids)]
        data["patient"] = patient
        for key, name in self.people.items():
            if key not in PEOPLE:
                raise InputError(f"unknown person {key!r}", hint=f"one of {', '.join(PEOPLE)}")
            if name:
                old = data.get(key)
                data[key] = {**old, "name": name} if isinstance(old, dict) else {"name": name}
        if self.consent_date or self.consent_by:
            data["consent"] = {**(data.get("consent") or {}), "given": True,
                               **({"date": self.consent_date} if self.consent_date else {}),
                               **({"given_by": self.consent_by} if self.consent_by else {})}
        if self.add_restrictions or self.remove_restrictions:
            kept = [r for r in data.get("restrictions") or [] if r not in set(self.remove_restrictions)]
            for r in self.add_restrictions:
                if r not in kept:
                    kept.append(r)
            data["restrictions"] = kept
        return data


def create_workspace(root: str | os.PathLike, changes: DossierChanges, *, from_toml: str | os.PathLike | None = None,
                     force: bool = False) -> Workspace:
    """``dossierkit init``: a workspace at *root* from the dossier.toml-shaped
    file *from_toml* (if any) with *changes* applied (the options win).
    See :func:`init_workspace` for what is checked and written."""
    data = read_toml_file(from_toml) if from_toml else {}
    return init_workspace(root, changes.apply(data), force=force)


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def update_dossier(workspace: Workspace | str | os.PathLike, changes: DossierChanges) -> list[tuple[str, Any, Any]]:
    """``dossierkit set``: apply *changes* to the workspace's dossier.toml,
    validated as a whole (nothing written when a value is wrong), atomically.
    Returns ``(field, old, new)`` for each field that changed (dotted names,
    e.g. ``patient.birth_date``); an empty list writes nothing."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    before = ws.dossier.to_dict()
    dossier = dossier_from_dict(changes.apply(before), ws.root / DOSSIER_FILE)
    old, new = _flat(before), _flat(dossier.to_dict())
    changed = [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        ws.save_dossier(dossier)
        phi.register(dossier.patient)
    return changed


# ---------------------------------------------------------------------------
# `list`: what the dossier holds


@dataclass
class Contents:
    """The documents and image series of a workspace, for ``dossierkit list``."""

    documents: list[DocumentRecord]
    series: list[dict[str, Any]]  # one row per image series (study and series facts, count, sources)

    def to_dict(self) -> dict[str, Any]:
        return {"documents": [{k: d.to_dict().get(k) for k in ("id", "kind", "date", "title", "original_name",
                                                                "pages", "has_text", "sha256")}
                              for d in self.documents],
                "series": self.series}


def list_contents(workspace: Workspace | str | os.PathLike) -> Contents:
    """``dossierkit list``: every document (id, kind, date, title, original
    file name) and every image series (study date and UID, modality,
    description, image count, where the images came from)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    _ = ws.dossier  # a broken dossier.toml is reported first
    rows = []
    for st in group_studies(ws.images()):
        for se in st.series:
            sources = sorted({os.path.dirname(i.source) for i in se.instances if i.source})
            rows.append({"study_instance_uid": st.study_instance_uid, "study_date": _iso_da(st.date),
                         "study_description": st.description, "series_instance_uid": se.series_instance_uid,
                         "series_number": se.series_number, "modality": se.modality,
                         "description": se.description, "images": len(se.instances),
                         "patient_ids": sorted({i.patient_id for i in se.instances if i.patient_id}),
                         "sources": sources})
    return Contents(ws.documents(), rows)


def _iso_da(value: str | None) -> str | None:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value
