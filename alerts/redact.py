"""Keeps secrets out of logs: a filter that masks known secret values in every record.

Installed on the root handlers by `finsent alerts run`. It is the second line of
defence: the first is that our own log calls never carry URLs or credentials, and that
httpx's per-request INFO line (which prints the URL, i.e. Slack's secret) is turned down.
At DEBUG, libraries log more than we control; this filter masks what they print.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "***"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
MIN_SECRET_CHARS = 6
"""Shorter values would mask ordinary words; no real credential is that short."""


class RedactSecrets(logging.Filter):
    """Replaces each secret value with `***` in the message, extra fields and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a URL is masked whole before a token inside it.
        self._secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: logging reports it itself
            return True
        masked = self.redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                text = value if isinstance(value, str) else repr(value)
                if self.redact(text) != text:
                    setattr(record, key, self.redact(text))
        if record.exc_info:
            text = self.redact(logging.Formatter().formatException(record.exc_info))
            # Formatters print exc_text when exc_info is gone; the JSON one prints `exc`.
            record.exc_info, record.exc_text = None, text
            record.exc = text
        return True


def protect_logs(secrets: Iterable[str]) -> None:
    """Mask `secrets` on every root handler.

    Call after `configure_logging`, which keeps httpx's per-request lines (with their
    URLs: Slack's is a secret) out of every level above DEBUG; at DEBUG this masks them.
    """
    root = logging.getLogger()
    redactor = RedactSecrets(secrets)
    for handler in root.handlers:
        handler.addFilter(redactor)
