"""A real Orthanc for the PACS tests, on loopback only.

Orthanc 1.10 cannot bind its DICOM port to 127.0.0.1, so every Orthanc of a
test session runs inside one private network namespace (``unshare --net``,
only ``lo`` up): nothing it opens is reachable from outside this machine,
and nothing it sends can leave it. A sleeper process holds the namespace;
the Orthancs and the command lines under test enter it with ``nsenter``,
and the test process itself enters it for library-level calls with
``setns(2)`` on the calling thread (:meth:`NetNS.entered`; threads started
inside the block, such as pynetdicom's, inherit it). Everything is stopped
by PID at the end of the session.

Two servers: a *sending* PACS loaded with real files (pydicom's test files
and pydicom-data) and a *receiving* PACS, emptied before each test that
uses it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import IN_CI, need_tool
from images_fixtures import PYDICOM_FILES, readable_third_party_files

CLONE_NEWNET = 0x40000000
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
OUR_AE = "DOSSIERKIT"
MOVE_PORT = 11113
# The patient most of the gather tests fetch: 40 real instances in one study (pydicom-data), several transfer syntaxes
PATIENT = "ID1"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class NetNS:
    """A private network namespace held by a sleeping process."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "86400"])
        self.path = f"/proc/{self.holder.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.readlink(self.path) == os.readlink("/proc/self/ns/net"):  # unshare has not run yet
            if time.monotonic() > deadline:
                raise RuntimeError("unshare --net did not take effect")
            time.sleep(0.01)
        subprocess.run(["nsenter", f"--net={self.path}", "--", "ip", "link", "set", "lo", "up"], check=True)

    def prefix(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    @contextlib.contextmanager
    def entered(self):
        """Run the block (on this thread) inside the namespace."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(self.path, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)
            os.close(target)

    def stop(self) -> None:
        self.holder.kill()
        self.holder.wait(timeout=10)


@dataclass
class Orthanc:
    ns: NetNS
    folder: Path
    aet: str
    http_port: int
    dicom_port: int
    extra: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    users: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def config(self) -> dict:
        cfg = {
            "Name": self.aet, "StorageDirectory": str(self.folder / "db"), "IndexDirectory": str(self.folder / "db"),
            "HttpPort": self.http_port, "DicomPort": self.dicom_port, "DicomAet": self.aet,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "HttpServerEnabled": True,
            "DicomCheckCalledAet": True, "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": False, "DicomAlwaysAllowGet": False, "DicomAlwaysAllowMove": False,
            "DicomModalities": {OUR_AE: {"AET": OUR_AE, "Host": "127.0.0.1", "Port": MOVE_PORT,
                                         "AllowEcho": True, "AllowFind": True, "AllowGet": True, "AllowMove": True,
                                         "AllowStore": True}},
            "DicomScpTimeout": 30, "DicomScuTimeout": 10, "StableAge": 1, "ConcurrentJobs": 1,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False,
                         "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
            "SaveJobs": False, "StorageCompression": False, "OverwriteInstances": False,
        }
        cfg.update(self.extra)
        return cfg

    def start(self) -> Orthanc:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "config.json"
        conf.write_text(json.dumps(self.config(), indent=1))
        log = open(self.folder / "orthanc.log", "ab")
        self.proc = subprocess.Popen([*self.ns.prefix(), "Orthanc", str(conf)], stdout=log, stderr=log,
                                     cwd=self.folder)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                self.get("/system")
                return self
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log_tail(self) -> str:
        try:
            return (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def request(self, method: str, path: str, body: bytes | None = None, *, ctype: str = "application/json"):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", ctype)
        if self.users:
            user, password = next(iter(self.users.items()))
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        with self.ns.entered(), urllib.request.urlopen(req, timeout=60) as rsp:
            data = rsp.read()
        return json.loads(data) if data and rsp.headers.get_content_type() == "application/json" else data

    def get(self, path: str):
        return self.request("GET", path)

    def upload(self, files) -> int:
        n = 0
        for f in files:
            try:
                self.request("POST", "/instances", Path(f).read_bytes(), ctype="application/dicom")
                n += 1
            except urllib.error.HTTPError:
                pass  # Orthanc refuses a few odd test files (no SOP class, no meta); counted by the caller
        return n

    def clear(self) -> None:
        for pid in self.get("/patients"):
            self.request("DELETE", f"/patients/{pid}")

    def instance_uids(self) -> set[str]:
        return {self.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] for i in self.get("/instances")}

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def need_orthanc() -> None:
    need_tool("Orthanc")
    need_tool("nsenter")
    need_tool("unshare")
    if not DICOMWEB_PLUGIN.exists():
        if IN_CI:
            pytest.fail("the orthanc-dicomweb plugin is not installed on CI (scripts/install-debian-deps.sh)")
        pytest.skip("orthanc-dicomweb not installed")
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the PACS tests need root for unshare --net (CI runs as root)")
        pytest.skip("unshare --net needs root")


def pacs_toml(home: Path, sender: Orthanc, receiver: Orthanc, **extra_entries: dict) -> Path:
    """$DOSSIERKIT_HOME/pacs.toml naming both servers, by DIMSE and by DICOMweb."""
    lines = []
    entries = {
        "sender": {"ae_title": sender.aet, "host": "127.0.0.1", "port": sender.dicom_port, "calling_ae": OUR_AE,
                   "move_port": MOVE_PORT, "timeout": 10},
        "receiver": {"ae_title": receiver.aet, "host": "127.0.0.1", "port": receiver.dicom_port,
                     "calling_ae": OUR_AE, "timeout": 10},
        "sender-web": {"dicomweb": sender.dicomweb, "timeout": 10},
        "receiver-web": {"dicomweb": receiver.dicomweb, "timeout": 10},
        **extra_entries,
    }
    for name, entry in entries.items():
        lines.append(f'[pacs."{name}"]')
        for k, v in entry.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    home.mkdir(parents=True, exist_ok=True)
    path = home / "pacs.toml"
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="session")
def pacs_ns():
    need_orthanc()
    ns = NetNS()
    yield ns
    ns.stop()


@pytest.fixture(scope="session")
def sender(pacs_ns, tmp_path_factory):
    """The sending PACS, loaded once with every readable pydicom / pydicom-data file."""
    srv = Orthanc(pacs_ns, tmp_path_factory.mktemp("orthanc-sender"), "SENDER", 8042, 4242).start()
    try:
        files = readable_third_party_files()
        srv.loaded = srv.upload(files)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def _receiver(pacs_ns, tmp_path_factory):
    srv = Orthanc(pacs_ns, tmp_path_factory.mktemp("orthanc-receiver"), "RECEIVER", 8043, 4243).start()
    yield srv
    srv.stop()


@pytest.fixture
def receiver(_receiver):
    """The receiving PACS, empty."""
    _receiver.clear()
    return _receiver


@pytest.fixture
def pacs_home(tmp_path, sender, _receiver, monkeypatch):
    """A $DOSSIERKIT_HOME whose pacs.toml names both servers."""
    home = tmp_path / "home"
    pacs_toml(home, sender, _receiver)
    monkeypatch.setenv("DOSSIERKIT_HOME", str(home))
    return home


def run_in_ns(ns: NetNS, *args: str, env: dict | None = None, input: str | None = None, timeout: float = 600):
    """The real console entry point, run inside the test namespace."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COLUMNS", None)
    return subprocess.run([*ns.prefix(), sys.executable, "-m", "dossierkit", *map(str, args)], input=input,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def pydicom_file(name: str) -> Path:
    return PYDICOM_FILES / name


__all__ = ["NetNS", "Orthanc", "pacs_ns", "sender", "_receiver", "receiver", "pacs_home", "run_in_ns", "pacs_toml",
           "PATIENT", "OUR_AE", "MOVE_PORT", "shutil", "pydicom_file"]


def main(argv: list[str]) -> int:
    """``python tests/orthanc_fixtures.py DIR``: the two test PACS for a walk-through by hand (docs/pacs.md).

    Starts the sending PACS (loaded with pydicom's and pydicom-data's files) and the receiving PACS in a
    private network namespace, writes DIR/home/pacs.toml, prints how to run commands inside, and stops
    everything by PID on Ctrl-C."""
    folder = Path(argv[0] if argv else "pacs-lab").absolute()
    ns = NetNS()
    servers = []
    try:
        sender_srv = Orthanc(ns, folder / "sender", "SENDER", 8042, 4242).start()
        servers.append(sender_srv)
        receiver_srv = Orthanc(ns, folder / "receiver", "RECEIVER", 8043, 4243).start()
        servers.append(receiver_srv)
        n = sender_srv.upload(readable_third_party_files())
        pacs_toml(folder / "home", sender_srv, receiver_srv)
        print(f"sending PACS: {n} files loaded; pacs.toml: {folder / 'home' / 'pacs.toml'}")
        print(f"run commands inside:  export DOSSIERKIT_HOME={folder / 'home'}")
        print(f"                      {' '.join(ns.prefix())} .venv/bin/dossierkit pacs echo sender")
        print("Ctrl-C stops both servers.")
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for srv in servers:
            srv.stop()
        ns.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main(sys.argv[1:]))
