from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from dashboards.definitions import all_dashboards
from dashboards.generate import rendered
from dashboards.push import push
from dashboards.queries import PROMETHEUS_DS_UID, REDIS_DS_UID
from dashboards.settings import GrafanaSettings
from finsent.settings import RedisSettings

# The `grafana_stub` fixture (conftest.py) is typed `Any` here: conftest modules are not
# importable by a stable name, so mypy cannot see its class.
GrafanaStub = Any

UIDS = [str(d.uid) for d in all_dashboards()]  # the SDK types uid as optional


def _settings(stub: GrafanaStub) -> GrafanaSettings:
    return GrafanaSettings(url=stub.url, token=SecretStr("glsa_test"))


def test_first_push_creates_datasources_folder_and_dashboards(grafana_stub: GrafanaStub) -> None:
    result = push(_settings(grafana_stub), RedisSettings(password=SecretStr("s3cret")))

    assert result.datasources_created == (REDIS_DS_UID, PROMETHEUS_DS_UID)
    assert result.datasources_updated == ()
    calls = [(c.method, c.path.split("?")[0]) for c in grafana_stub.calls]
    assert calls == [
        ("GET", f"/api/datasources/uid/{REDIS_DS_UID}"),
        ("POST", "/api/datasources"),
        ("GET", f"/api/datasources/uid/{PROMETHEUS_DS_UID}"),
        ("POST", "/api/datasources"),
        ("GET", "/api/folders/finsent"),
        ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(UIDS),
    ]
    assert all(c.authorization == "Bearer glsa_test" for c in grafana_stub.calls)
    redis_ds = grafana_stub.datasources[REDIS_DS_UID]
    assert redis_ds["type"] == "redis-datasource"
    assert redis_ds["secureJsonData"] == {"password": "s3cret"}
    posted = [c.body for c in grafana_stub.calls if c.path == "/api/dashboards/db"]
    assert [p["dashboard"]["uid"] for p in posted] == UIDS
    assert all(p["overwrite"] is True and p["folderUid"] == "finsent" for p in posted)
    assert all(p["dashboard"]["id"] is None for p in posted)


def test_pushed_dashboards_are_the_committed_json(grafana_stub: GrafanaStub) -> None:
    push(_settings(grafana_stub), RedisSettings())
    files = rendered()
    for uid, body in grafana_stub.dashboards.items():
        committed = json.loads(files[f"{uid}.json"])
        assert body["dashboard"] == {**committed, "id": None}


def test_second_push_updates_in_place(grafana_stub: GrafanaStub) -> None:
    push(_settings(grafana_stub), RedisSettings())
    first = {uid: body for uid, body in grafana_stub.dashboards.items()}
    grafana_stub.calls.clear()

    again = push(_settings(grafana_stub), RedisSettings())

    assert again.datasources_created == ()
    assert again.datasources_updated == (REDIS_DS_UID, PROMETHEUS_DS_UID)
    methods = [(c.method, c.path.split("?")[0]) for c in grafana_stub.calls]
    assert ("POST", "/api/datasources") not in methods
    assert ("POST", "/api/folders") not in methods
    assert methods.count(("PUT", f"/api/datasources/uid/{REDIS_DS_UID}")) == 1
    assert sorted(grafana_stub.dashboards) == sorted(UIDS)
    assert grafana_stub.dashboards == first
    assert len(grafana_stub.datasources) == 2 and len(grafana_stub.folders) == 1


def test_cli_push_reports_what_it_did(grafana_stub: GrafanaStub) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(
        app, ["dashboards", "push", "--url", grafana_stub.url, "--token", "glsa_cli"]
    )
    assert result.exit_code == 0, result.output
    assert "finsent-overview" in result.output and "created" in result.output
    assert {c.authorization for c in grafana_stub.calls} == {"Bearer glsa_cli"}


def test_cli_push_without_a_url_fails_cleanly(monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.delenv("FINSENT_GRAFANA_URL", raising=False)
    result = CliRunner().invoke(app, ["dashboards", "push"])
    assert result.exit_code == 1
    assert "FINSENT_GRAFANA_URL" in result.output
