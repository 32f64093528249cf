"""`finsent dashboards push`: data sources, a folder and every dashboard, by stable uid.

Idempotent: a data source that exists (looked up by uid) is updated, a missing one is
created; dashboards are posted with `overwrite: true`, so a second push replaces the first.
"""

from __future__ import annotations

import logging
from typing import Any

from grafana_client.client import GrafanaClientError
from pydantic import BaseModel, ConfigDict

from dashboards.datasources import datasources
from dashboards.definitions import all_dashboards
from dashboards.generate import to_json_dict
from dashboards.grafana_api import make_api
from dashboards.settings import GrafanaSettings
from finsent.settings import RedisSettings

log = logging.getLogger(__name__)

NOT_FOUND = 404


class PushResult(BaseModel):
    """What one push did, for the CLI to print."""

    model_config = ConfigDict(frozen=True)

    datasources_created: tuple[str, ...]
    datasources_updated: tuple[str, ...]
    dashboards: tuple[str, ...]
    folder_uid: str


def _exists(call: Any, *args: Any) -> bool:
    try:
        call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == NOT_FOUND:
            return False
        raise
    return True


def push(grafana: GrafanaSettings, redis: RedisSettings) -> PushResult:
    """Create or update the data sources, the folder and the dashboards in Grafana.

    Args:
        grafana: URL and token of Grafana, and the addresses Grafana reaches Redis and
            Prometheus at.
        redis: Redis credentials for the Redis data source.

    Raises:
        finsent.errors.ConfigurationError: no Grafana URL is configured.
        grafana_client.client.GrafanaException: Grafana refused a call.
    """
    api = make_api(grafana)
    created: list[str] = []
    updated: list[str] = []
    for body in datasources(grafana, redis):
        uid = body["uid"]
        if _exists(api.datasource.get_datasource_by_uid, uid):
            api.datasource.update_datasource_by_uid(uid, body)
            updated.append(uid)
        else:
            api.datasource.create_datasource(body)
            created.append(uid)
    if not _exists(api.folder.get_folder, grafana.folder_uid):
        api.folder.create_folder(grafana.folder_title, uid=grafana.folder_uid)
    pushed: list[str] = []
    for dashboard in all_dashboards():
        body = to_json_dict(dashboard)
        body["id"] = None  # match by uid only: ids differ between Grafana instances
        api.dashboard.update_dashboard(
            {
                "dashboard": body,
                "folderUid": grafana.folder_uid,
                "overwrite": True,
                "message": "finsent dashboards push",
            }
        )
        pushed.append(body["uid"])
    log.info(
        "pushed dashboards",
        extra={"dashboard_uids": pushed, "datasources_created": created},
    )
    return PushResult(
        datasources_created=tuple(created),
        datasources_updated=tuple(updated),
        dashboards=tuple(pushed),
        folder_uid=grafana.folder_uid,
    )
