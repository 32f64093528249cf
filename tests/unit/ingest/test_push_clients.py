"""Named push clients: configuration errors at start-up, and which client a token is."""

import pytest
from pydantic import SecretStr

from finsent.errors import ConfigurationError
from ingest.settings import IngestSettings
from ingest.sources.push_clients import DEFAULT_CLIENT, PushClients


def test_each_token_names_its_client_and_unknown_tokens_name_none() -> None:
    clients = PushClients({"vendor": b"tok-vendor", "scraper": b"tok-scraper"})
    assert clients.identify("tok-vendor") == "vendor"
    assert clients.identify("tok-scraper") == "scraper"
    assert clients.identify("tok-vendo") is None
    assert clients.identify(None) is None
    assert clients.names == ("scraper", "vendor")


def test_the_single_token_is_the_default_client_beside_named_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINSENT_INGEST_PUSH_TOKEN", "tok-default")
    monkeypatch.setenv("FINSENT_INGEST_PUSH_CLIENTS", '{"vendor": "tok-vendor"}')
    clients = PushClients.from_settings(IngestSettings())
    assert clients.names == (DEFAULT_CLIENT, "vendor")
    assert clients.identify("tok-default") == DEFAULT_CLIENT
    assert clients.identify("tok-vendor") == "vendor"


def test_named_clients_alone_are_enough_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINSENT_INGEST_PUSH_TOKEN", raising=False)
    monkeypatch.setenv("FINSENT_INGEST_PUSH_CLIENTS", '{"vendor": "tok-vendor"}')
    assert PushClients.from_settings(IngestSettings()).names == ("vendor",)


def test_an_empty_clients_variable_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose passes `FINSENT_INGEST_PUSH_CLIENTS` empty when `.env` does not set it."""
    monkeypatch.setenv("FINSENT_INGEST_PUSH_TOKEN", "tok-default")
    monkeypatch.setenv("FINSENT_INGEST_PUSH_CLIENTS", "")
    assert PushClients.from_settings(IngestSettings()).names == (DEFAULT_CLIENT,)


@pytest.mark.parametrize(
    ("token", "clients", "message"),
    [
        (None, {}, "FINSENT_INGEST_PUSH_TOKEN or FINSENT_INGEST_PUSH_CLIENTS"),
        ("", {}, "FINSENT_INGEST_PUSH_TOKEN or FINSENT_INGEST_PUSH_CLIENTS"),
        ("t1", {"default": "t2"}, "must not name it too"),
        (None, {"a": "same", "b": "same"}, "share a token"),
        ("same", {"b": "same"}, "share a token"),
        (None, {"vendor": ""}, "empty token"),
        (None, {"Vendor": "t"}, "must match"),
        (None, {"a,b": "t"}, "must match"),
        (None, {"unauthenticated": "t"}, "must match"),
        (None, {"x" * 41: "t"}, "must match"),
    ],
)
def test_unusable_client_configurations_are_refused_at_start_up(
    token: str | None, clients: dict[str, str], message: str
) -> None:
    settings = IngestSettings(
        push_token=None if token is None else SecretStr(token),
        push_clients={name: SecretStr(secret) for name, secret in clients.items()},
    )
    with pytest.raises(ConfigurationError, match=message):
        PushClients.from_settings(settings)


def test_a_refusal_never_shows_a_token() -> None:
    settings = IngestSettings(
        push_clients={"a": SecretStr("s3cret-value"), "b": SecretStr("s3cret-value")}
    )
    with pytest.raises(ConfigurationError) as caught:
        PushClients.from_settings(settings)
    assert "s3cret-value" not in str(caught.value)
