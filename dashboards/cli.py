"""`finsent dashboards generate|push` and `finsent web`."""

from __future__ import annotations

from typing import Annotated

import typer

from finsent.logs import configure_logging
from finsent.settings import FinsentSettings

app = typer.Typer(
    help=(
        "Grafana dashboards as code: regenerate the committed JSON, or push dashboards "
        "and data sources to a Grafana server."
    ),
    no_args_is_help=True,
)


@app.command()
def generate(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the committed JSON is stale.")
    ] = False,
) -> None:
    """Write every dashboard to dashboards/grafana/<uid>.json (used by Grafana provisioning).

    Run it after editing dashboards/boards/, panels.py or queries.py and commit the JSON with the change.
    """
    from dashboards.generate import GRAFANA_DIR, rendered, write

    if check:
        stale = [
            name
            for name, text in rendered().items()
            if not (GRAFANA_DIR / name).is_file()
            or (GRAFANA_DIR / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            typer.echo(
                "stale: " + ", ".join(stale) + " (run `finsent dashboards generate`)", err=True
            )
            raise typer.Exit(1)
        typer.echo("dashboards are up to date")
        return
    for path in write():
        typer.echo(f"wrote {path}")


@app.command()
def push(
    url: Annotated[
        str | None, typer.Option(help="Grafana base URL (default: FINSENT_GRAFANA_URL).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Service-account token (default: FINSENT_GRAFANA_TOKEN; prefer the variable, "
            "a command-line token shows in `ps`)."
        ),
    ] = None,
) -> None:
    """Create or update the Redis and Prometheus data sources and every dashboard.

    Idempotent: data sources are matched by uid, dashboards are overwritten by uid, so
    pushing twice leaves Grafana as one push did.
    """
    from grafana_client.client import GrafanaException

    from dashboards.push import push as do_push
    from dashboards.settings import GrafanaSettings
    from finsent.errors import ConfigurationError

    base = FinsentSettings()
    configure_logging(base.log_level, base.log_format)
    overrides = {k: v for k, v in {"url": url, "token": token}.items() if v is not None}
    grafana = GrafanaSettings(**overrides)  # type: ignore[arg-type]
    try:
        result = do_push(grafana, base.redis)
    except (ConfigurationError, GrafanaException) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"data sources created {list(result.datasources_created)}, "
        f"updated {list(result.datasources_updated)}; "
        f"dashboards {list(result.dashboards)} in folder {result.folder_uid}"
    )


def web(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8050).")] = None,
) -> None:
    """Serve the built-in read-only web view: overview, ticker drill-down, alerts, health.

    Charts are drawn by the page itself (no CDN). Set FINSENT_WEB_TOKEN to require a
    bearer token on the API, FINSENT_WEB_METRICS_URLS (JSON list) to show the services'
    Prometheus metrics. Time ranges end at each namespace's newest event time, so replays
    of past years show their data. Stop with Ctrl-C.
    """
    import uvicorn

    from dashboards.settings import WebSettings
    from dashboards.web.alert_log import RedisAlertLog
    from dashboards.web.app import create_app
    from finsent.store import open_store

    base = FinsentSettings()
    configure_logging(base.log_level, base.log_format)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = WebSettings(**overrides)  # type: ignore[arg-type]
    store = open_store(base, settings.store_backend)
    application = create_app(
        settings, store, RedisAlertLog(base.redis.client()), clock=base.clock()
    )
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=base.log_level.lower(),
        log_config=None,  # keep finsent's JSON logging; uvicorn would install its own
        access_log=False,
    )
