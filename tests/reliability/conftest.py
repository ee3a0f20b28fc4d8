"""Fixtures of the reliability and security matrix (docs/reliability.md).

One small real package per container is built once per session and only
copied afterwards: every tamper case mutates a copy, so the whole matrix
stays fast on two cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dossierkit.archive.age_keys import Identity, generate_identity
from dossierkit.package.pack import pack
from tests.pkg_fixtures import full_workspace, trust_sender
from tests.reliability.common import PASSWORD, SIGNING_KEY, Packed


@pytest.fixture(scope="session", autouse=True)
def _sender_trusted():
    """The receiving side knows the sender's key (trust store of the
    session's $DOSSIERKIT_HOME); OTHER_KEY, the forger's, is never trusted."""
    trust_sender(SIGNING_KEY)


@pytest.fixture(scope="session")
def rel_workspace(tmp_path_factory) -> Path:
    """The sample patient's workspace: 7 real PDFs, CT (ISO_IR 100, stripped
    of StudyTime/StudyID/SeriesNumber) and MR (ISO_IR 192) images."""
    root = tmp_path_factory.mktemp("rel") / "ws"
    full_workspace(root, ct=2, mr=2)
    return root


@pytest.fixture(scope="session")
def age_identity() -> Identity:
    secret, _public = generate_identity()
    return Identity.from_str(secret)


@pytest.fixture(scope="session")
def password_package(rel_workspace, tmp_path_factory) -> Packed:
    out = tmp_path_factory.mktemp("pw") / "dossier.zip"
    res = pack(rel_workspace, out, signing_key=SIGNING_KEY, password=PASSWORD)
    return Packed("password", res, rel_workspace, {"password": PASSWORD})


@pytest.fixture(scope="session")
def recipients_package(rel_workspace, age_identity, tmp_path_factory) -> Packed:
    out = tmp_path_factory.mktemp("age") / "dossier.age"
    res = pack(rel_workspace, out, signing_key=SIGNING_KEY, recipients=[str(age_identity.recipient())])
    return Packed("recipients", res, rel_workspace, {"identities": [age_identity]})


@pytest.fixture(scope="session", params=["password", "recipients"])
def any_package(request) -> Packed:
    return request.getfixturevalue(f"{request.param}_package")


@pytest.fixture(scope="module")
def cli_opts(tmp_path_factory, password_package, recipients_package):
    """The CLI secret options of the two packages (files, never argv)."""
    d = tmp_path_factory.mktemp("secrets")
    (d / "pw").write_text(password_package.secrets["password"] + "\n")
    (d / "id").write_text(str(recipients_package.secrets["identities"][0]) + "\n")
    return {"password": ["--password-file", str(d / "pw")], "recipients": ["--identity", str(d / "id")]}
