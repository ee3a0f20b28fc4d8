"""Regenerate docs/screenshots/index-htm.png: INDEX.HTM of the test dossier
(fictional patient, real sample PDFs, pydicom test images) rendered by
headless chromium. Run from the repository root:

    .venv/bin/python scripts/screenshot_index.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from dossierkit.check import run_checks  # noqa: E402
from dossierkit.package.manifest import completeness_record  # noqa: E402
from dossierkit.package.root import build_root, write_root_to_folder  # noqa: E402
from tests.pkg_fixtures import full_workspace  # noqa: E402


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium is not installed", file=sys.stderr)
        return 2
    out = REPO / "docs" / "screenshots" / "index-htm.png"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ws = full_workspace(t / "ws")
        report = run_checks(ws)
        root = build_root(ws, signing_key=Ed25519PrivateKey.generate(), container="password",
                          completeness=completeness_record(report, waived=False, reason=None))
        folder = write_root_to_folder(root, t / "root")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--user-data-dir={t / 'profile'}", "--hide-scrollbars", "--window-size=1000,1900",
                        f"--screenshot={out}", (folder / "INDEX.HTM").as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
