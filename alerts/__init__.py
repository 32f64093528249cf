"""finsent alerts service."""
