"""Background processes known by their pid file: started detached, found again, stopped.

Used by the local stack supervisor (`devstack/stack.py`); a pid file outlives the command
that started the process, so `finsent stack down` can stop what `up` started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def spawn(
    args: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        # A new session so Ctrl-C in the caller's terminal does not reach the servers.
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    pid_file.write_text(str(proc.pid))
    return proc


def live_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process is alive and is the one we started."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if marker.encode() not in cmdline:
        return None  # the pid was reused by an unrelated process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def stop_pid_file(pid_file: Path, marker: str, timeout_s: float = 60.0) -> bool:
    pid = live_pid(pid_file, marker)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and live_pid(pid_file, marker) is not None:
        reap(pid)
        time.sleep(0.1)
    if live_pid(pid_file, marker) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
