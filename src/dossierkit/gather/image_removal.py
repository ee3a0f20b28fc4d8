"""``remove_images``: take image copies out of a workspace — one image, a
series or a study — instead of ``import-images --reset`` (which drops all).

The index is written first (atomically), then the copies are deleted: an
interruption leaves at worst an unindexed copy, which the next import
removes (``importer._clean_images_dir``). Index layout: docs/images.md.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from dossierkit.errors import InputError
from dossierkit.workspace import Workspace

_IMG_ID = re.compile(r"^IMG0*(\d+)(\.dcm)?$", re.IGNORECASE)


@dataclass
class RemovalReport:
    removed: list[dict[str, Any]] = field(default_factory=list)  # {"id", "path", "series", "study"}

    def to_dict(self) -> dict[str, Any]:
        return {"removed": self.removed, "count": len(self.removed),
                "series": len({r["series"] for r in self.removed}),
                "studies": len({r["study"] for r in self.removed})}


def image_id(path: str) -> str:
    """``images/IMG000003.dcm`` → ``IMG000003``: how checks and `remove-images` name an image."""
    return os.path.splitext(os.path.basename(path))[0]


def _number(text: str) -> int | None:
    m = _IMG_ID.match(os.path.basename(text.strip()))
    return int(m.group(1)) if m else None


def remove_images(workspace: Workspace | str | os.PathLike, ids: list[str] = (), *, series: list[str] = (),
                  studies: list[str] = ()) -> RemovalReport:
    """Remove the images named by id (``IMG000003``, ``IMG3`` or
    ``images/IMG000003.dcm``), by Series Instance UID or by Study Instance
    UID. Every name must match at least one image, else nothing is removed
    and :class:`InputError` (exit 2) names the first one that does not."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if not (ids or series or studies):
        raise InputError("nothing to remove", hint="name images (IMG000003), --series UID or --study UID")
    index = ws.images_index()
    instances = index.get("instances", [])
    wanted_numbers: dict[int, str] = {}
    for name in ids:
        n = _number(name)
        if n is None:
            raise InputError(f"{name!r} is not an image id", hint="image ids look like IMG000003 (see `check`)")
        wanted_numbers[n] = name
    by_number = {_number(d.get("path", "")): d for d in instances}
    for n, name in wanted_numbers.items():
        if n not in by_number:
            raise InputError(f"no image {name} in this workspace", path=ws.root)
    series_set, study_set = {s.strip() for s in series}, {s.strip() for s in studies}
    for uid, have, what in [(u, "series_instance_uid", "series") for u in series_set] + \
                           [(u, "study_instance_uid", "study") for u in study_set]:
        if not any(d.get(have) == uid for d in instances):
            raise InputError(f"no image of {what} {uid} in this workspace", path=ws.root)
    keep, gone = [], []
    for d in instances:
        if (_number(d.get("path", "")) in wanted_numbers or d.get("series_instance_uid") in series_set
                or d.get("study_instance_uid") in study_set):
            gone.append(d)
        else:
            keep.append(d)
    index["instances"] = keep
    ws.save_images_index(index)
    report = RemovalReport()
    for d in gone:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ws.root / d["path"])
        report.removed.append({"id": image_id(d["path"]), "path": d["path"],
                               "series": d.get("series_instance_uid"), "study": d.get("study_instance_uid")})
    return report
