"""Inference service: scores news items with finsent's sentiment and topic model."""
