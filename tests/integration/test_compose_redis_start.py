"""deploy/redis/start.sh, the compose Redis's start-up, run with Debian's real redis-server.

No Docker engine runs here, so the image's docker-entrypoint.sh is replaced by a shim that
does the one thing its documentation promises and start.sh relies on: a first argument
ending in `.conf` becomes `redis-server <that file> …`. Everything else is real: the
script, the shell, the config file it writes and the server that reads it.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parents[2]
START = REPO / "deploy" / "redis" / "start.sh"
# Quotes, a backslash, spaces, `$`, a newline-free shell metacharacter soup and non-ASCII:
# everything that breaks a naive `requirepass $PASSWORD` line.
HOSTILE = "p a\"s\\s $HOME `id` ;'é€"
ENTRYPOINT_SHIM = """#!/bin/sh
case "$1" in *.conf) set -- redis-server "$@" ;; esac
exec "$@"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def started(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "docker-entrypoint.sh"
    shim.write_text(ENTRYPOINT_SHIM)
    shim.chmod(0o755)
    port = _free_port()
    env = {
        "PATH": f"{shim_dir}:{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "REDISCLI_AUTH": HOSTILE,
    }
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    process = subprocess.Popen(["sh", str(START), *args], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, "redis-server exited during start"
                assert time.monotonic() < deadline, "redis-server did not listen in 20 s"
                time.sleep(0.1)
        yield process, port, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_hostile_password_is_the_password_and_only_it_opens(
    started: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    _, port, _ = started
    assert redis.Redis(port=port, password=HOSTILE).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password=HOSTILE[:-1]).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()


def test_the_password_is_nowhere_on_a_command_line_and_its_file_is_private(
    started: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, tmp_path = started
    pid = int(redis.Redis(port=port, password=HOSTILE).info("server")["process_id"])
    # start.sh exec'd the entrypoint, which exec'd the server: one process all along.
    assert pid == process.pid
    assert HOSTILE.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    conf = tmp_path / "finsent-redis-auth.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert HOSTILE.encode() not in conf.read_bytes()  # escaped, byte by byte


def test_without_a_password_it_refuses_to_start(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)}
    done = subprocess.run(["sh", str(START)], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "set FINSENT_REDIS__PASSWORD in .env" in done.stderr
    assert not (tmp_path / "finsent-redis-auth.conf").exists()
