"""Alerts as Grafana annotations: the code lives in `finsent.grafana`, so that the alerts
service can post them without importing the dashboards package."""

from finsent.grafana import ANNOTATION_TEXT_MAX, AnnotationRequest, annotation_for, post_annotation

__all__ = ["ANNOTATION_TEXT_MAX", "AnnotationRequest", "annotation_for", "post_annotation"]
