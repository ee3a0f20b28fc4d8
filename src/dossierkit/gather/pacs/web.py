"""DICOMweb client (dicomweb-client): QIDO-RS, WADO-RS, STOW-RS.

WADO-RS asks for ``multipart/related; type="application/dicom"`` with
``transfer-syntax=*``: each instance comes in the syntax the server holds.
The response is read as a stream and each part written to its own file as
soon as it is complete: one instance at most sits in memory, never a study.
STOW-RS posts one file at a time, its bytes as they are.

dicomweb-client decodes a multipart response only into pydicom datasets in
its public API (which would re-encode the bytes); the byte-level calls used
here (``_http_get``, ``_decode_multipart_message``, ``_http_post_multipart_application_dicom``,
the URL builders) are its own internal layer, pinned by the version range
in pyproject.toml and exercised by the tests against Orthanc.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.web import _Transaction
from pydicom.dataset import Dataset

from dossierkit.errors import RemoteError
from dossierkit.gather.dicomfile import HEAD_SIZE, CorruptDicomError, NotDicomError, parse_header
from dossierkit.gather.pacs.config import PacsConfig
from dossierkit.gather.pacs.dimse import Received, received_name

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
STUDY_FIELDS = ["StudyInstanceUID", "PatientID", "StudyDate", "StudyDescription", "ModalitiesInStudy",
                "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "AccessionNumber"]


class _Session(requests.Session):
    """A session whose CA file (``tls_ca``) holds: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
    ``Session.verify`` (found by tests/test_pacs_tls.py on a machine that sets them), which would check the
    PACS's certificate against the system's CAs instead of the one pacs.toml names."""

    ca_file: str | None = None

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: D102 — requests' hook
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.ca_file:
            settings["verify"] = self.ca_file
        return settings


def _client(cfg: PacsConfig) -> DICOMwebClient:
    session = _Session()
    if cfg.username:
        session.auth = (cfg.username, cfg.password() or "")
    if cfg.tls_ca:
        session.verify = session.ca_file = cfg.tls_ca
    if cfg.tls_cert:
        session.cert = (cfg.tls_cert, cfg.tls_key) if cfg.tls_key else cfg.tls_cert
    return DICOMwebClient(cfg.dicomweb, session=session, timeout=cfg.timeout)


@contextlib.contextmanager
def _errors(cfg: PacsConfig, what: str) -> Iterator[None]:
    """HTTP and network failures as one line, exit 7."""
    where = f"PACS {cfg.name!r} ({cfg.dicomweb})"
    try:
        yield
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        if code in (401, 403):
            raise RemoteError(f"{where} refused the credentials for the {what} (HTTP {code})",
                              hint="check username and password_env / password_file in pacs.toml") from exc
        raise RemoteError(f"{where} answered the {what} with HTTP {code}") from exc
    except requests.exceptions.Timeout as exc:
        raise RemoteError(f"{where}: the {what} got no answer within {cfg.timeout:g} s (timed out)",
                          hint="re-run: what arrived is kept") from exc
    except requests.exceptions.SSLError as exc:
        raise RemoteError(f"{where}: the TLS handshake for the {what} failed ({_tls_reason(exc)})",
                          hint="check tls_ca in pacs.toml (the CA that issued the server's certificate)") from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise RemoteError(f"{where} cannot be reached for the {what} (connection refused or dropped)",
                          hint="check the dicomweb URL and that the server is running") from exc
    except requests.exceptions.RequestException as exc:
        raise RemoteError(f"{where}: the {what} failed ({type(exc).__name__})") from exc


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests → urllib3 → ssl), innermost last."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(out) < 10:
        e = todo.pop()
        out.append(e)
        todo.extend(x for x in (*getattr(e, "args", ()), getattr(e, "reason", None), e.__cause__, e.__context__)
                    if isinstance(x, BaseException) and x not in out)
    return out


def _tls_reason(exc: BaseException) -> str:
    """The SSL reason alone (``certificate verify failed: unable to get local issuer certificate``)."""
    inner = next((e for e in _causes(exc) if isinstance(e, ssl.SSLError)), None)
    if isinstance(inner, ssl.SSLCertVerificationError) and inner.verify_message:
        return f"certificate verify failed: {inner.verify_message}"
    if inner is not None:
        return str(inner.reason or inner).lower().replace("_", " ")
    return type(exc).__name__


def echo(cfg: PacsConfig) -> float:
    """A QIDO-RS search for one study; milliseconds."""
    client = _client(cfg)
    t0 = time.perf_counter()
    with _errors(cfg, "QIDO-RS ping"):
        client.search_for_studies(limit=1)
    return (time.perf_counter() - t0) * 1000


def find_studies(cfg: PacsConfig, *, patient_id: str | None, since: str | None,
                 study_uids: Sequence[str] = ()) -> list[Dataset]:
    client = _client(cfg)
    filters_list = ([{"StudyInstanceUID": uid, **({"PatientID": patient_id} if patient_id else {})}
                     for uid in study_uids] if study_uids else
                    [{"PatientID": patient_id, **({"StudyDate": f"{since}-"} if since else {})}])
    out = []
    with _errors(cfg, "QIDO-RS search"):
        for filters in filters_list:
            out.extend(Dataset.from_json(d) for d in client.search_for_studies(search_filters=filters,
                                                                                 fields=STUDY_FIELDS))
    return out


def list_instances(cfg: PacsConfig, study_uid: str) -> list[tuple[str, str, str]]:
    """(series UID, SOP Instance UID, SOP Class UID) of every instance of the study."""
    client = _client(cfg)
    with _errors(cfg, "QIDO-RS search"):
        found = client.search_for_instances(study_instance_uid=study_uid,
                                            fields=["SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID"])
    out = []
    for d in found:
        ds = Dataset.from_json(d)
        out.append((str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", "")),
                    str(ds.get("SOPClassUID", ""))))
    return out


def _save_parts(cfg: PacsConfig, parts: Iterator[bytes], folder: Path,
                on_instance: Callable[[Received], None]) -> None:
    for part in parts:
        path = received_name(folder)
        with open(path, "wb") as fh:
            fh.write(part)
        size = len(part)
        del part
        try:
            with open(path, "rb") as fh:
                hdr = parse_header(fh.read(HEAD_SIZE), fh, size)
        except (NotDicomError, CorruptDicomError) as exc:
            raise RemoteError(f"PACS {cfg.name!r} sent a part that is not a DICOM instance ({exc})") from exc
        on_instance(Received(path, hdr.sop_instance_uid, hdr.sop_class_uid, hdr.transfer_syntax or "", size))


def _retrieve(cfg: PacsConfig, url: str, folder: Path, on_instance: Callable[[Received], None]) -> None:
    client = _client(cfg)
    with _errors(cfg, "WADO-RS retrieve"):
        response = client._http_get(url, headers={"Accept": ACCEPT}, stream=True)
        parts = client._decode_multipart_message(response, stream=True)
        _save_parts(cfg, parts, folder, on_instance)


def retrieve_study(cfg: PacsConfig, study_uid: str, folder: Path, on_instance: Callable[[Received], None]) -> None:
    client = _client(cfg)
    _retrieve(cfg, client._get_studies_url(_Transaction.RETRIEVE, study_uid), folder, on_instance)


def retrieve_series(cfg: PacsConfig, study_uid: str, series_uid: str, folder: Path,
                    on_instance: Callable[[Received], None]) -> None:
    client = _client(cfg)
    _retrieve(cfg, client._get_series_url(_Transaction.RETRIEVE, study_uid, series_uid), folder, on_instance)


def retrieve_instance(cfg: PacsConfig, study_uid: str, series_uid: str, sop_uid: str, folder: Path,
                      on_instance: Callable[[Received], None]) -> None:
    client = _client(cfg)
    _retrieve(cfg, client._get_instances_url(_Transaction.RETRIEVE, study_uid, series_uid, sop_uid), folder,
              on_instance)


class StowSession:
    """STOW-RS, one instance per request, the file's bytes as they are."""

    def __init__(self, cfg: PacsConfig):
        self.cfg = cfg
        self.client = _client(cfg)
        self.url = self.client._get_studies_url(_Transaction.STORE)

    def __enter__(self) -> StowSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.client._session.close()

    def store(self, path: Path, data: bytes | None = None) -> tuple[int, str]:
        """(0, "") when stored, else (a non-zero status, the reason). *data*: other bytes than the file's."""
        if data is None:
            with open(path, "rb") as fh:
                data = fh.read()
        try:
            with _errors(self.cfg, "STOW-RS store"):
                rsp = self.client._http_post_multipart_application_dicom(self.url, [data])
        except RemoteError as exc:
            cause = exc.__cause__
            if isinstance(cause, requests.exceptions.HTTPError) and cause.response is not None \
                    and cause.response.status_code not in (401, 403) and cause.response.status_code < 500:
                return cause.response.status_code, f"HTTP {cause.response.status_code}"
            raise
        failed = rsp.get("FailedSOPSequence") or []
        if failed:
            reason = failed[0].get("FailureReason")
            return int(reason or 0xC000), f"failure reason 0x{int(reason or 0xC000):04X}"
        return 0, ""

