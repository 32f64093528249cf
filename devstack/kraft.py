"""The Kafka broker's KRaft storage: a cluster id, and formatting its log dirs once."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from finsent.errors import ConfigurationError


def new_cluster_id() -> str:
    """A random KRaft cluster id: a UUID in URL-safe base64, 22 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def format_kafka_storage(java: str, libs: Path, config: Path, cluster_id: str) -> None:
    """Format the broker's log dirs for KRaft (a no-op on already formatted dirs).

    Raises:
        ConfigurationError: the storage tool failed; its output is in the message.
    """
    result = subprocess.run(
        [
            java,
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            # `--opt=value`, not `-t value`: one id in 64 starts with "-", which the
            # tool's argument parser would read as an option and fail on.
            f"--cluster-id={cluster_id}",
            f"--config={config}",
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigurationError(
            f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}"
        )
