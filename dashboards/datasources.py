"""The two data sources the dashboards use, for provisioning files and for `push`."""

from __future__ import annotations

from typing import Any

from dashboards.queries import PROMETHEUS_DS_TYPE, PROMETHEUS_DS_UID, REDIS_DS_TYPE, REDIS_DS_UID
from dashboards.settings import GrafanaSettings
from finsent.settings import RedisSettings


def datasources(grafana: GrafanaSettings, redis: RedisSettings) -> list[dict[str, Any]]:
    """Grafana data-source bodies (`POST /api/datasources`), keyed by stable uids.

    The Redis password goes to `secureJsonData`, which Grafana encrypts and never returns.
    """
    redis_ds: dict[str, Any] = {
        "uid": REDIS_DS_UID,
        "name": "finsent Redis",
        "type": REDIS_DS_TYPE,
        "access": "proxy",
        "url": grafana.redis_url,
        "isDefault": False,
        "jsonData": {"client": "standalone", "poolSize": 5, "timeout": 10, "tlsAuth": redis.tls},
    }
    if redis.username:
        redis_ds["jsonData"]["acl"] = True
        redis_ds["jsonData"]["user"] = redis.username
    if redis.password is not None:
        redis_ds["secureJsonData"] = {"password": redis.password.get_secret_value()}
    prometheus_ds: dict[str, Any] = {
        "uid": PROMETHEUS_DS_UID,
        "name": "finsent Prometheus",
        "type": PROMETHEUS_DS_TYPE,
        "access": "proxy",
        "url": grafana.prometheus_url,
        "isDefault": True,
        "jsonData": {"timeInterval": "15s"},
    }
    return [redis_ds, prometheus_ds]
