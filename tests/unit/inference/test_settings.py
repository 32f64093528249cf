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


def test_a_gpu_consumer_drains_backlogs_in_larger_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpu = InferenceSettings().batch
    assert (cpu.backlog_max_count, cpu.backlog_max_tokens) == (256, 16_384)
    monkeypatch.setenv("FINSENT_INFERENCE_DEVICE", "cuda:1")
    gpu = InferenceSettings().batch
    assert (gpu.backlog_max_count, gpu.backlog_max_tokens) == (1024, 65_536)
    assert gpu.model_dump(exclude={"backlog_max_count", "backlog_max_tokens"}) == cpu.model_dump(
        exclude={"backlog_max_count", "backlog_max_tokens"}
    )  # live batches as on CPU
    monkeypatch.setenv("FINSENT_INFERENCE_BATCH__MAX_WAIT_S", "0.3")
    merged = InferenceSettings().batch
    assert merged.max_wait_s == 0.3 and merged.backlog_max_count == 1024
    monkeypatch.setenv("FINSENT_INFERENCE_BATCH__BACKLOG_MAX_COUNT", "512")
    assert InferenceSettings().batch.backlog_max_count == 512  # the operator's word wins
    assert InferenceSettings(device="cpu").batch.backlog_max_count == 512
