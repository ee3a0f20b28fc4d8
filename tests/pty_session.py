"""Run the real CLI on a pseudo-terminal (python's pty module), as a person
at an 80-column terminal sees it: prompts, hidden input, progress bars.

``run_on_pty(args, answers=[(wait_for, text), …])`` types each *text* once
*wait_for* has appeared (after the previous answer) and returns the exit
code and everything the terminal showed (stdout and stderr, unless
*stdout* names a file to send stdout to instead).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PtyRun:
    returncode: int
    screen: str


def run_on_pty(args: list[str], answers: list[tuple[str, str]] = (), *, cols: int = 80, env: dict | None = None,
               cwd: str | Path | None = None, stdout: Path | None = None, timeout: float = 180) -> PtyRun:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    full_env = {**os.environ, "COLUMNS": str(cols), "TERM": "xterm", **(env or {})}
    out_fh = open(stdout, "wb") if stdout is not None else None
    try:
        proc = subprocess.Popen([sys.executable, "-m", "dossierkit", *map(str, args)], stdin=slave,
                                stdout=out_fh or slave, stderr=slave, env=full_env, cwd=cwd, close_fds=True,
                                start_new_session=True)
    finally:
        os.close(slave)
    pending = list(answers)
    seen = b""
    pos = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
                if pending:
                    at = seen.find(pending[0][0].encode(), pos)
                    if at >= 0:
                        pos = at + 1
                        time.sleep(0.2)  # getpass switches echo off (and flushes typed-ahead input) first
                        os.write(master, pending.pop(0)[1].encode())
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"timed out; the terminal showed:\n{seen.decode('utf-8', 'replace')}")
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if out_fh is not None:
            out_fh.close()
    return PtyRun(proc.returncode, seen.decode("utf-8", "replace"))
