"""finsent dashboards service."""
