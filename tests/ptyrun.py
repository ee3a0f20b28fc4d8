"""Run the real CLI in a pseudo-terminal (what a secretary sees: colours off,
a fixed width) and answer its prompts. Standard library only (pty)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class PtyResult:
    returncode: int
    output: str  # stdout and stderr as the terminal showed them, escape codes removed, \r\n -> \n


def run_pty(*args: str, columns: int = 80, answers: list[tuple[str, str]] = (), env: dict | None = None,
            cwd: str | None = None, timeout: float = 300, interrupt_after: str | None = None,
            command: list[str] | None = None) -> PtyResult:
    """Run ``python -m dossierkit ARGS`` on a pty *columns* wide. *answers*:
    (prompt text, reply) pairs typed when the prompt appears, in order.
    *interrupt_after*: send Ctrl-C once this text has appeared. *command*:
    another program to run instead of dossierkit (then *args* are ignored)."""
    full_env = {**os.environ, **(env or {}), "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm",
                "NO_COLOR": "1"}
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            # as a shell starts a program: Ctrl-C at its default, not blocked — whatever this test
            # process inherited or set (a SIGINT ignored or blocked here would survive exec)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            if cwd:
                os.chdir(cwd)
            argv = command or [sys.executable, "-m", "dossierkit", *map(str, args)]
            os.execvpe(argv[0], argv, full_env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    chunks: list[bytes] = []
    pending = list(answers)
    interrupted = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        seen = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
        if pending and pending[0][0] in seen.rsplit("\n", 1)[-1]:
            os.write(fd, (pending.pop(0)[1] + "\r").encode())
        if interrupt_after and not interrupted and interrupt_after in seen:
            os.write(fd, b"\x03")
            interrupted = True
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n").replace("\r", "")
    return PtyResult(os.waitstatus_to_exitcode(status), text)
