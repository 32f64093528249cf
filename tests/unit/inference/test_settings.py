"""InferenceSettings: one nested variable changes one field, never the whole policy."""

from __future__ import annotations

import pytest

from inference.settings import InferenceSettings


def test_one_batch_variable_keeps_the_services_other_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = InferenceSettings().batch
    monkeypatch.setenv("FINSENT_INFERENCE_BATCH__MAX_TOKENS", "8192")
    monkeypatch.setenv("FINSENT_INFERENCE_RETRY__MAX_BACKOFF_S", "9")
    settings = InferenceSettings()
    assert settings.batch.max_tokens == 8192
    assert settings.batch.model_dump(exclude={"max_tokens"}) == defaults.model_dump(
        exclude={"max_tokens"}
    )
    assert settings.batch.max_count == 128  # the service's default, not BatchPolicy's 256
    assert settings.retry.max_backoff_s == 9 and settings.retry.initial_backoff_s == 0.2


def test_a_nested_value_in_code_merges_too() -> None:
    settings = InferenceSettings(batch={"max_wait_s": 0.5})
    assert settings.batch.max_wait_s == 0.5 and settings.batch.max_count == 128
