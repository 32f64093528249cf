"""What the operator can fix gets one clear message and an exit code, not a traceback:
a bad environment variable (naming it), a wrong model folder, a broker or Redis that does
not answer. Faults of finsent's own code keep their traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from kafka.errors import KafkaTimeoutError
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cli.errors import EXIT_FAILED, EXIT_USAGE, operator_error, settings_error_message
from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings
from inference.model.data import read_examples
from inference.model.network import FinsentNet
from inference.settings import InferenceSettings
from ingest.settings import IngestSettings


def _raised(build: type) -> BaseException:
    with pytest.raises(Exception) as caught:
        build()
    return caught.value


def test_each_bad_variable_is_named_with_its_nested_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_INFERENCE_BATCH__MAX_COUNT", "many")
    monkeypatch.setenv("FINSENT_INFERENCE_BATCH__MAX_TOKENS", "-1")
    message = settings_error_message(_raised(InferenceSettings))
    assert message is not None
    lines = message.splitlines()
    assert lines[0] == "invalid settings (InferenceSettings):"
    assert lines[1].startswith("  FINSENT_INFERENCE_BATCH__MAX_COUNT: Input should be a valid int")
    assert lines[2].startswith("  FINSENT_INFERENCE_BATCH__MAX_TOKENS: Input should be greater")


class AliasedSettings(BaseSettings):
    """As `IngestSettings.data_dir`: a field read from a variable outside the prefix."""

    model_config = SettingsConfigDict(env_prefix="FINSENT_TEST_")
    workers: int = Field(default=1, validation_alias="FINSENT_WORKERS")


def test_a_field_read_from_its_alias_is_named_by_the_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINSENT_WORKERS", "several")
    message = settings_error_message(_raised(AliasedSettings))
    assert message is not None and "  FINSENT_WORKERS: Input should be a valid int" in message


def test_a_value_that_is_not_json_names_the_field_and_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINSENT_INGEST_PUSH_CLIENTS", "{vendor: s3cret}")
    message = settings_error_message(_raised(IngestSettings))
    assert message is not None
    assert '"push_clients"' in message and "JSONDecodeError" in message
    assert "s3cret" not in message


def test_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_REDIS__PORT", "hunter2-is-a-password")
    message = settings_error_message(_raised(FinsentSettings))
    assert message is not None and "FINSENT_REDIS__PORT" in message
    assert "hunter2" not in message


def test_a_validation_error_outside_settings_is_our_fault_and_keeps_its_traceback() -> None:
    class Point(BaseModel):
        x: int

    with pytest.raises(ValidationError) as caught:
        Point.model_validate({"x": "nope"})
    assert settings_error_message(caught.value) is None
    assert settings_error_message(RuntimeError("boom")) is None


def test_a_folder_that_is_no_model_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigurationError, match=r"missing finsent\.json, model\.safetensors"):
        FinsentNet.load(tmp_path)


def test_a_data_folder_without_the_data_says_which_file_and_variable(tmp_path: Path) -> None:
    """`finsent bench model`, `eval` and `train` read these files; a wrong FINSENT_DATA_DIR
    ended in a FileNotFoundError traceback."""
    with pytest.raises(ConfigurationError, match=r"no sentiment valid data at .*FINSENT_DATA_DIR"):
        read_examples(tmp_path, "sentiment", "valid")


@pytest.mark.parametrize(
    ("exc", "says", "code"),
    [
        (ConfigurationError("set FINSENT_X"), "set FINSENT_X", EXIT_FAILED),
        (redis.ConnectionError("Error 111"), "cannot reach Redis: Error 111", EXIT_FAILED),
        (redis.TimeoutError("Timeout"), "cannot reach Redis", EXIT_FAILED),
        (redis.AuthenticationError("WRONGPASS"), "FINSENT_REDIS__PASSWORD", EXIT_FAILED),
        (
            KafkaTimeoutError("Unable to bootstrap from ['h:9092']"),
            "cannot reach Kafka",
            EXIT_FAILED,
        ),
    ],
)
def test_what_the_operator_can_fix_is_explained(exc: Exception, says: str, code: int) -> None:
    explained = operator_error(exc)
    assert explained is not None
    assert says in explained[0] and explained[1] == code


def test_a_kafka_timeout_after_start_up_is_not_explained_away() -> None:
    assert operator_error(KafkaTimeoutError("Failed to update metadata after 60 s")) is None


def _finsent(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_says_it_in_one_line_and_exits_2() -> None:
    done = _finsent("alerts", "list", FINSENT_REDIS__PORT="hunter2", FINSENT_LOG_LEVEL="INFO")
    assert done.returncode == EXIT_USAGE
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert done.stderr.startswith("error: invalid settings (FinsentSettings):\n")
    assert "  FINSENT_REDIS__PORT: Input should be a valid integer" in done.stderr


def test_debug_logging_keeps_the_traceback() -> None:
    done = _finsent("alerts", "list", FINSENT_REDIS__PORT="x", FINSENT_LOG_LEVEL="DEBUG")
    assert done.returncode == 1 and "Traceback" in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bench", "model", "--batch-sizes", "0"], "positive whole numbers"),
        (["bench", "model", "--batch-sizes", "8,x"], "positive whole numbers"),
        (["bench", "pipeline", "--documents", "0"], "greater than or equal to 1"),
        (["classify", "/nonexistent/posts.jsonl"], "does not exist"),
        (["classify", "/"], "is a directory"),
        (["eval", "--limit", "0"], "greater than or equal to 1"),
        (["train", "--epochs", "0"], "epochs: Input should be greater than or equal to 1"),
        (["train", "--max-steps", "0"], "max_steps: Input should be greater than or equal"),
    ],
)
def test_nonsense_options_are_refused_before_any_work(
    args: list[str], says: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path / "model"
    if args[0] == "train":
        args = [*args, "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == EXIT_USAGE, result.output
    assert says in " ".join(result.output.split())  # rich boxes wrap long messages
    assert not out.exists()  # `train --epochs 0` once saved a model that learnt nothing
