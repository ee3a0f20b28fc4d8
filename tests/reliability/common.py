"""Constants and types shared by the matrix modules and their conftest.

Kept out of conftest.py: pytest imports a conftest under its own module
name, so keys defined there would be generated twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.package.pack import PackResult

PASSWORD = "corniche-lavande-oursin-pivoine-tisane-boussole-givre"
SIGNING_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()  # an attacker's key: signs fine, is not the expected signer


@dataclass
class Packed:
    """A package built from the sample workspace, and what opens it."""

    kind: str  # password | recipients
    result: PackResult
    workspace: Path
    secrets: dict  # verify_package/unpack_package keyword arguments

    @property
    def path(self) -> Path:
        return self.result.package

    def copy_to(self, folder: Path, name: str = "copy.pkg") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / name
        shutil.copyfile(self.path, out)
        return out


def measure_cli(command: str, files: list[Path], args: list[str], *, timeout: float = 300) -> dict:
    """Run ``command`` on each of *files* in one subprocess (tests/reliability/measure.py) and
    return its report: per file exit code, stderr, wall and CPU seconds; the peak RSS."""
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "tests.reliability.measure",
                        json.dumps({"command": command, "args": args}), *map(str, files)],
                       cwd=repo, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
