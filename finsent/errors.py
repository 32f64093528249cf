"""The three kinds of failure the runner tells apart (see STYLE.md section 6)."""


class FinsentError(Exception):
    """Base class for finsent's own errors."""


class InvalidMessage(FinsentError):
    """A message that can never succeed: it goes to the dead-letter topic with `reason`."""

    retriable = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(FinsentError):
    """A dependency (Redis, the broker) is unavailable: retry, never commit."""

    retriable = True


class DlqLimitExceeded(FinsentError):
    """Too many invalid messages in a row: a bad deploy, not bad data. Stop the consumer."""


class ConfigurationError(FinsentError):
    """Settings or the environment are wrong in a way an operator must fix."""
