"""The Grafana API client lives in `finsent.grafana`, shared with the alerts service."""

from finsent.grafana import make_api

__all__ = ["make_api"]
