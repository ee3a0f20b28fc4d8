"""DIMSE client (pynetdicom): C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE.

No transcoding either way. Receiving (C-GET): for each SOP class of what is
fetched we propose one presentation context per transfer syntax, so the
PACS can send every instance in the syntax it holds it in (a context
proposing several syntaxes is accepted with one, and the PACS would then
convert). Instances are streamed by pynetdicom to a file in the folder the
caller gives (``STORE_RECV_CHUNKED_DATASET``): an instance never sits whole
in memory. Sending (C-STORE): each file is proposed in its own transfer
syntax and sent from disk as it is (``STORE_SEND_CHUNKED_DATASET``).

pynetdicom runs each association on threads of its own (its design); they
end with the association.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import (UID, AllTransferSyntaxes, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
                         ExplicitVRLittleEndian, ImplicitVRLittleEndian)
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.service_class import ServiceClass, StorageServiceClass
from pynetdicom.sop_class import (StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove, Verification, register_uid,
                                  uid_to_service_class)

from dossierkit.errors import RemoteError
from dossierkit.gather.pacs.config import PacsConfig

_config.STORE_RECV_CHUNKED_DATASET = True  # received instances go to disk as they arrive
_config.STORE_SEND_CHUNKED_DATASET = True  # files are sent from disk as they are
# pynetdicom logs to the "pynetdicom" logger; without a handler Python would print its errors on stderr
logging.getLogger("pynetdicom").addHandler(logging.NullHandler())

MAX_CONTEXTS = 128
# Still-image syntaxes first (native, JPEG, JPEG-LS, JPEG 2000, RLE, HTJ2K), then the video and rare ones: when
# many SOP classes share one association's 127 contexts, each class gets at least the first STILL of these.
_STILL = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
          *(UID(f"1.2.840.10008.1.2.{n}") for n in ("4.50", "4.51", "4.57", "4.70", "4.80", "4.81", "4.90", "4.91",
                                                     "5", "4.201", "4.202", "4.203"))]
TRANSFER_SYNTAXES = _STILL + [UID(ts) for ts in AllTransferSyntaxes if ts not in _STILL]
STILL = len(_STILL)
_lock = threading.Lock()  # tempfile.tempdir is process-wide while a retrieve runs
_names = itertools.count(1)  # received files: unique names across associations of one process


def received_name(folder: Path) -> Path:
    return folder / f"r{next(_names):07d}.dcm"


def _ae(cfg: PacsConfig) -> AE:
    ae = AE(ae_title=cfg.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = cfg.timeout
    ae.connection_timeout = cfg.timeout
    ae.maximum_pdu_size = 0  # no limit: the peer's own maximum applies
    return ae


def _no_delay(event) -> None:
    """EVT_CONN_OPEN: turn Nagle's algorithm off on the association's socket (TCP_NODELAY, as DCMTK does).

    pynetdicom writes each PDU with its own send(); with Nagle on, a PDU smaller than a TCP segment (the last
    fragment of every dataset, at the peer's 16 kB maximum PDU) waits for the peer's delayed ACK, up to 40 ms
    on Linux (the A/B against Orthanc: docs/performance.md, "PACS")."""
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


NO_DELAY = (evt.EVT_CONN_OPEN, _no_delay)


def _tls_args(cfg: PacsConfig) -> tuple[ssl.SSLContext, str] | None:
    if not cfg.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.tls_ca)
    if cfg.tls_cert:
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx, cfg.host or ""


def _describe_failure(cfg: PacsConfig, assoc, tls_error: str | None = None) -> RemoteError:
    where = cfg.where()
    if assoc.is_rejected:
        rej = getattr(assoc, "_rejection", None)  # pynetdicom keeps no public reason; the log has it
        return RemoteError(f"PACS {cfg.name!r} ({where}) rejected the association{rej or ''}",
                           hint="check ae_title and calling_ae in pacs.toml, and that the PACS knows our AE title")
    if tls_error:
        return RemoteError(f"PACS {cfg.name!r} ({where}): the DICOM TLS handshake failed ({tls_error})",
                           hint="check tls_ca (the CA that issued the PACS's certificate), tls_cert and tls_key "
                                "in pacs.toml")
    return RemoteError(f"PACS {cfg.name!r} ({where}) cannot be reached (connection refused, aborted or timed out "
                       f"after {cfg.timeout:g} s)", hint="check host and port, and that the PACS is running"
                       + ("" if cfg.tls else " (and whether it asks for DICOM TLS: tls = true)"))


class _Rejections(logging.Handler):
    """Keeps pynetdicom's line giving an association rejection's reason."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.tls: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "Result:" in msg or "Reason:" in msg:
            self.lines.append(msg.strip())
        elif "TCP Initialisation Error:" in msg and "SSL" in msg:  # pynetdicom's line for a failed TLS handshake
            self.tls = msg.split("TCP Initialisation Error:", 1)[1].strip()


@contextlib.contextmanager
def associate(cfg: PacsConfig, ae: AE, **kwargs: Any) -> Iterator[Any]:
    """An established association, released on leaving (aborted on error)."""
    if cfg.dicomweb:
        raise RemoteError(f"PACS {cfg.name!r} is a DICOMweb server, not DIMSE")
    log = logging.getLogger("pynetdicom")
    catcher = _Rejections()
    log.addHandler(catcher)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        handlers = [*kwargs.pop("evt_handlers", []), NO_DELAY]
        assoc = ae.associate(cfg.host, cfg.port, ae_title=cfg.ae_title, tls_args=_tls_args(cfg),
                             evt_handlers=handlers, **kwargs)
    except (OSError, ssl.SSLError) as exc:
        raise RemoteError(f"PACS {cfg.name!r} ({cfg.where()}): {exc}") from exc
    finally:
        log.removeHandler(catcher)
        log.setLevel(old_level)
    if not assoc.is_established:
        if assoc.is_rejected and catcher.lines:
            assoc._rejection = " (" + "; ".join(catcher.lines[-2:]) + ")"
        raise _describe_failure(cfg, assoc, catcher.tls)
    try:
        yield assoc
    except BaseException:
        assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()


def echo(cfg: PacsConfig) -> float:
    """C-ECHO; the round trip in milliseconds (association included)."""
    ae = _ae(cfg)
    ae.add_requested_context(Verification)
    t0 = time.perf_counter()
    with associate(cfg, ae) as assoc:
        status = assoc.send_c_echo()
        if not status or status.get("Status") != 0:
            raise RemoteError(f"PACS {cfg.name!r} ({cfg.where()}) did not answer the C-ECHO "
                              f"({_status_text(status)})")
    return (time.perf_counter() - t0) * 1000


def _status_text(status: Dataset | None) -> str:
    if not status or "Status" not in status:
        return "no answer: timed out or aborted"
    return f"status 0x{int(status.Status):04X}" + (f" {status.ErrorComment}" if "ErrorComment" in status else "")


def find(cfg: PacsConfig, query: Dataset) -> list[Dataset]:
    """A Study Root C-FIND; the identifiers of the matches."""
    ae = _ae(cfg)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    out: list[Dataset] = []
    with associate(cfg, ae) as assoc:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status or "Status" not in status:
                raise RemoteError(f"PACS {cfg.name!r} ({cfg.where()}): the C-FIND timed out or was aborted")
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                if identifier is not None:
                    out.append(identifier)
            elif code != 0:
                raise RemoteError(f"PACS {cfg.name!r} ({cfg.where()}) refused the C-FIND ({_status_text(status)})",
                                  hint="the PACS may not allow queries from our AE title (calling_ae)")
    return out


@dataclass
class Received:
    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    size: int


@dataclass
class RetrieveOutcome:
    received: list[Received]
    completed: int = 0
    failed: int = 0
    warning: int = 0
    status: str = ""
    error: str | None = None  # the transfer stopped (timeout, abort, refusal): what happened


def storage_classes(sop_classes: Iterable[str]) -> list[str]:
    """The SOP classes, each known to pynetdicom as a storage class: a class it does not know (a retired one,
    e.g. Ultrasound Image Storage 1.2.840.10008.5.1.4.1.1.6, or a private one) is registered, else its
    storage SCP aborts the association when such an instance arrives."""
    out = sorted({c for c in sop_classes if c})
    for uid in out:
        if uid_to_service_class(uid) is ServiceClass:
            with contextlib.suppress(ValueError):
                register_uid(uid, "DossierkitStorage_" + uid.replace(".", "_"), StorageServiceClass)
    return out


def _storage_contexts(sop_classes: Iterable[str], budget: int) -> list[tuple[str, str]]:
    """(SOP class, transfer syntax) pairs: every syntax for each class, as many as the budget allows."""
    classes = storage_classes(sop_classes)
    per = max(1, budget // max(1, len(classes)))
    return [(c, ts) for c in classes for ts in TRANSFER_SYNTAXES[:per]]


def sop_class_batches(sop_classes: Iterable[str]) -> list[list[str]]:
    """SOP classes split so that each batch gets every still-image transfer syntax within 127 contexts."""
    classes = sorted(set(sop_classes))
    per = max(1, (MAX_CONTEXTS - 1) // STILL)
    return [classes[i:i + per] for i in range(0, len(classes), per)] or [[]]


class _Sink:
    """Receives C-STORE sub-operations: moves pynetdicom's streamed file into *folder*."""

    def __init__(self, folder: Path, on_instance: Callable[[Received], None]):
        self.folder = folder
        self.on_instance = on_instance
        self.received: list[Received] = []

    def handle_store(self, event) -> int:
        req = event.request
        src = Path(event.dataset_path)
        dest = received_name(self.folder)
        try:
            os.replace(src, dest)
            size = dest.stat().st_size
        except OSError:
            return 0xA700  # out of resources: the PACS reports it as a failed sub-operation
        rec = Received(dest, str(req.AffectedSOPInstanceUID), str(req.AffectedSOPClassUID),
                       str(event.context.transfer_syntax), size)
        self.received.append(rec)
        self.on_instance(rec)
        return 0x0000


@contextlib.contextmanager
def _temp_in(folder: Path) -> Iterator[None]:
    """pynetdicom streams each received instance to ``tempfile``'s folder: make it *folder*
    (in the workspace, like every temporary file holding patient data)."""
    with _lock:
        old = tempfile.tempdir
        tempfile.tempdir = str(folder)
        try:
            yield
        finally:
            tempfile.tempdir = old


def _tally(out: RetrieveOutcome, status: Dataset) -> None:
    for key, attr in (("NumberOfCompletedSuboperations", "completed"), ("NumberOfFailedSuboperations", "failed"),
                      ("NumberOfWarningSuboperations", "warning")):
        if key in status and status.get(key) is not None:
            setattr(out, attr, int(status.get(key)))


def _retrieve_loop(cfg: PacsConfig, responses, out: RetrieveOutcome, verb: str) -> None:
    """One retrieve request; its sub-operation counts are added to *out*, whose first error is kept."""
    first_error = out.error
    one = RetrieveOutcome([])
    try:
        _one_retrieve(cfg, responses, one, verb)
    finally:
        out.completed += one.completed
        out.failed += one.failed
        out.warning += one.warning
        out.status = one.status or out.status
        out.error = first_error or one.error


def _one_retrieve(cfg: PacsConfig, responses, out: RetrieveOutcome, verb: str) -> None:
    for status, _identifier in responses:
        if not status or "Status" not in status:
            out.error = (f"PACS {cfg.name!r} ({cfg.where()}): the {verb} stopped: no answer within "
                         f"{cfg.timeout:g} s (timed out or aborted)")
            return
        code = int(status.Status)
        _tally(out, status)
        if code == 0xFF00:
            continue
        out.status = f"0x{code:04X}"
        if code in (0x0000, 0xB000):
            return
        if code == 0xFE00:
            out.error = f"PACS {cfg.name!r}: the {verb} was cancelled"
        elif code == 0xA801:
            out.error = (f"PACS {cfg.name!r} does not know the move destination {cfg.calling_ae!r} "
                         f"({_status_text(status)})")
        else:
            out.error = f"PACS {cfg.name!r} ({cfg.where()}) refused the {verb} ({_status_text(status)})"
        return


def get(cfg: PacsConfig, queries: list[Dataset], sop_classes: Iterable[str], folder: Path,
        on_instance: Callable[[Received], None]) -> RetrieveOutcome:
    """C-GET each of *queries* (Study Root) over one association; instances land in *folder* as Part 10 files."""
    ae = _ae(cfg)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    pairs = _storage_contexts(sop_classes, MAX_CONTEXTS - 1)
    for sop_class, ts in pairs:
        ae.add_requested_context(sop_class, [ts])
    roles = [build_role(c, scp_role=True) for c in sorted({c for c, _ in pairs})]
    sink = _Sink(folder, on_instance)
    out = RetrieveOutcome(sink.received)
    with _temp_in(folder):
        with associate(cfg, ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, sink.handle_store)]) as assoc:
            for query in queries:
                _retrieve_loop(cfg, assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet), out, "C-GET")
                if not assoc.is_established:
                    break  # timed out or aborted: the rest waits for a retry
    return out


def move(cfg: PacsConfig, queries: list[Dataset], sop_classes: Iterable[str], folder: Path,
         on_instance: Callable[[Received], None]) -> RetrieveOutcome:
    """C-MOVE each of *queries* to ourselves: a storage SCP on ``move_port`` receives the instances."""
    if not cfg.move_port:
        raise RemoteError(f"PACS {cfg.name!r}: --move-to-self needs move_port in pacs.toml",
                          hint="the port of our own storage SCP, known to the PACS with calling_ae")
    scp = _ae(cfg)
    for sop_class in storage_classes(sop_classes):
        scp.add_supported_context(sop_class, TRANSFER_SYNTAXES)
    sink = _Sink(folder, on_instance)
    out = RetrieveOutcome(sink.received)
    with _temp_in(folder):
        try:
            server = scp.start_server(("127.0.0.1" if cfg.host in ("127.0.0.1", "localhost") else "", cfg.move_port),
                                      block=False, evt_handlers=[(evt.EVT_C_STORE, sink.handle_store), NO_DELAY])
        except OSError as exc:
            raise RemoteError(f"cannot listen on port {cfg.move_port} for the C-MOVE ({exc.strerror})",
                              hint="choose another move_port in pacs.toml") from exc
        try:
            ae = _ae(cfg)
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            with associate(cfg, ae) as assoc:
                for query in queries:
                    _retrieve_loop(cfg, assoc.send_c_move(query, cfg.calling_ae,
                                                          StudyRootQueryRetrieveInformationModelMove), out, "C-MOVE")
                    if not assoc.is_established:
                        break  # timed out or aborted: the rest waits for a retry
        finally:
            server.shutdown()
    return out


@dataclass
class StoreResult:
    status: int | None  # None: not sent (no presentation context accepted)
    reason: str = ""


class StoreSession:
    """One association for C-STORE, proposing the given (SOP class, transfer syntax) pairs."""

    def __init__(self, cfg: PacsConfig, pairs: Iterable[tuple[str, str]]):
        self.cfg = cfg
        self.ae = _ae(cfg)
        self.pairs = sorted(set(pairs))[:MAX_CONTEXTS]
        for sop_class, ts in self.pairs:
            self.ae.add_requested_context(sop_class, [ts])
        self._cm = None
        self.assoc = None

    def __enter__(self) -> StoreSession:
        self._cm = associate(self.cfg, self.ae)
        self.assoc = self._cm.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._cm.__exit__(*exc_info)

    def accepted(self, sop_class: str, ts: str) -> bool:
        return any(cx.abstract_syntax == sop_class and cx.transfer_syntax[0] == ts
                   for cx in self.assoc.accepted_contexts)

    def store(self, path: Path, sop_class: str, ts: str, dataset: Dataset | None = None) -> StoreResult:
        if not self.accepted(sop_class, ts):
            return StoreResult(None, f"the PACS accepted no presentation context for SOP class {sop_class} in "
                                     f"transfer syntax {ts}")
        status = self.assoc.send_c_store(dataset if dataset is not None else path)
        if not status or "Status" not in status:
            raise RemoteError(f"PACS {self.cfg.name!r} ({self.cfg.where()}): the C-STORE of {path.name} got no "
                              f"answer within {self.cfg.timeout:g} s (timed out or aborted)",
                              hint="re-run: what was stored is kept, the rest is sent")
        code = int(status.Status)
        return StoreResult(code, "" if code == 0 else _status_text(status))
