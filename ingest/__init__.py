"""finsent ingest service."""
