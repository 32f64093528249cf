"""Write requirements.lock: the runtime image's dependencies, pinned, with hashes.

`make lock` runs this after a change to pyproject.toml's dependencies. uv resolves them
for the image (CPython 3.11, manylinux x86_64) from PyPI. torch is left out, and with it
the CUDA wheels that PyPI's torch pulls in (nvidia-*, cuda-*, triton): the image installs
torch by itself, pinned to pyproject.toml's version, from TORCH_INDEX_URL (the CPU wheels
by default). Its hash cannot be locked from here: that index is not PyPI.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
TORCH_ONLY = re.compile(r"^(torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==", re.MULTILINE)
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]


def compile_lock(out: Path, leave_out: list[str]) -> str:
    uv = Path(sys.executable).with_name("uv")
    command = [str(uv), "pip", "compile", "pyproject.toml", "--generate-hashes", "--quiet",
               "--custom-compile-command", "make lock", *TARGET, "-o", str(out)]  # fmt: skip
    for name in leave_out:
        command += ["--no-emit-package", name]
    subprocess.run(command, cwd=REPO, check=True)
    return out.read_text(encoding="utf-8")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full = compile_lock(Path(tmp) / "full.txt", [])
    leave_out = sorted(set(TORCH_ONLY.findall(full)))
    compile_lock(LOCK, leave_out)
    sys.stdout.write(
        f"wrote {LOCK.name}: torch and {len(leave_out) - 1} CUDA-only packages left out\n"
    )


if __name__ == "__main__":
    main()
