"""Who is pushing: each bearer token names one client, with its own rate limit and metrics.

A desk usually has several pushers (a vendor bridge, an in-house scraper, an analyst's
script). With one shared token, one runaway client spends every pusher's budget and can
only be cut off by rotating everyone's secret. Named tokens let an operator see each
client's traffic (`finsent_ingest_push_requests_total{client,status}`), throttle it alone
and revoke it alone. `FINSENT_INGEST_PUSH_TOKEN` stays: it is the client `default`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Final

from finsent.errors import ConfigurationError
from ingest.settings import IngestSettings

DEFAULT_CLIENT: Final = "default"
"""The client of `FINSENT_INGEST_PUSH_TOKEN`."""

UNAUTHENTICATED: Final = "unauthenticated"
"""The metrics label of requests without a known token (never a configured name)."""

CLIENT_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
"""Client names become a metrics label: short, lower case, no separators of label syntax."""


class PushClients:
    """The configured clients, looked up by the SHA-256 of the presented token.

    A dict lookup on the digest, not a comparison with each token: its timing can only
    tell an attacker about digests, which do not help to forge a token, and the cost
    stays flat however many clients there are.

    Args:
        tokens: Each client's name and its token.

    Raises:
        ConfigurationError: no client, a name that is not a valid label, an empty token,
            or one token given to two clients (their traffic could not be told apart).
    """

    def __init__(self, tokens: Mapping[str, bytes]) -> None:
        if not tokens:
            raise ConfigurationError(
                "set FINSENT_INGEST_PUSH_TOKEN or FINSENT_INGEST_PUSH_CLIENTS "
                "before serving the push API"
            )
        self._by_digest: dict[bytes, str] = {}
        for name, token in tokens.items():
            if not CLIENT_NAME.match(name) or name == UNAUTHENTICATED:
                raise ConfigurationError(
                    f"push client name {name[:60]!r} must match {CLIENT_NAME.pattern} "
                    f"and not be {UNAUTHENTICATED!r}"
                )
            if not token:
                raise ConfigurationError(f"push client {name!r} has an empty token")
            digest = hashlib.sha256(token).digest()
            if digest in self._by_digest:
                raise ConfigurationError(
                    f"push clients {self._by_digest[digest]!r} and {name!r} share a token: "
                    "give each its own, or their traffic cannot be told apart"
                )
            self._by_digest[digest] = name
        self.names = tuple(sorted(self._by_digest.values()))

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> PushClients:
        """The clients of `PUSH_TOKEN` (as `default`) and `PUSH_CLIENTS`.

        Raises:
            ConfigurationError: as the constructor, or `PUSH_CLIENTS` also names `default`
                while `PUSH_TOKEN` is set.
        """
        tokens = {
            name: secret.get_secret_value().encode()
            for name, secret in settings.push_clients.items()
        }
        if settings.push_token is not None and settings.push_token.get_secret_value():
            if DEFAULT_CLIENT in tokens:
                raise ConfigurationError(
                    f"FINSENT_INGEST_PUSH_TOKEN is the client {DEFAULT_CLIENT!r}; "
                    "FINSENT_INGEST_PUSH_CLIENTS must not name it too"
                )
            tokens[DEFAULT_CLIENT] = settings.push_token.get_secret_value().encode()
        return cls(tokens)

    def identify(self, token: str | None) -> str | None:
        """The client that `token` belongs to, or None."""
        if token is None:
            return None
        return self._by_digest.get(hashlib.sha256(token.encode()).digest())
