"""The provisioning files Grafana reads at start must agree with what `push` sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dashboards.datasources import datasources
from dashboards.generate import GRAFANA_DIR
from dashboards.settings import GrafanaSettings
from finsent.settings import RedisSettings

PROVISIONING = Path(__file__).resolve().parents[3] / "dashboards" / "provisioning"


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_provisioned_datasources_match_push() -> None:
    provisioned = {
        d["uid"]: d for d in _yaml(PROVISIONING / "datasources" / "finsent.yaml")["datasources"]
    }
    pushed = {d["uid"]: d for d in datasources(GrafanaSettings(), RedisSettings())}
    assert provisioned.keys() == pushed.keys()
    for uid, body in pushed.items():
        for key in ("name", "type", "url", "access", "isDefault"):
            assert provisioned[uid][key] == body[key], (uid, key)


def test_dashboard_provider_points_at_the_generated_json() -> None:
    provider = _yaml(PROVISIONING / "dashboards" / "finsent.yaml")["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/finsent"
    assert GRAFANA_DIR.name == "grafana" and any(GRAFANA_DIR.glob("finsent-*.json"))


def test_redis_password_is_only_in_secure_json() -> None:
    from pydantic import SecretStr

    redis_ds = datasources(GrafanaSettings(), RedisSettings(password=SecretStr("pw")))[0]
    assert redis_ds["secureJsonData"] == {"password": "pw"}
    assert "pw" not in str(redis_ds["jsonData"])
