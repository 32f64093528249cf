"""finsent shared contracts: wire schemas, topics, settings, Redis keys and the stream runner.

This package imports no service package (ingest, inference, alerts, dashboards).
"""

__version__ = "0.1.0"
