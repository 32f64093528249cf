"""What the command line says when a command cannot run for a reason the operator can
fix: a bad setting, a model folder that is not one, a broker or Redis that does not
answer. One clear message and a non-zero exit, not a traceback through typer.

Everything else (a fault in finsent's own code) keeps its traceback, and so does
everything with `FINSENT_LOG_LEVEL=DEBUG`. Only errors raised while a settings class
reads its values count as bad settings; a `ValidationError` from anywhere else is ours.
Setting values are never echoed: the variable may hold a password or a token.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from kafka.errors import KafkaTimeoutError
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

from finsent.errors import ConfigurationError

EXIT_FAILED = 1
EXIT_USAGE = 2
"""Exit code of a bad setting, as click gives a bad option."""


def operator_error(exc: BaseException) -> tuple[str, int] | None:
    """The message and exit code for `exc`, or None when it is a fault of finsent's code."""
    settings = settings_error_message(exc)
    if settings is not None:
        return settings, EXIT_USAGE
    if isinstance(exc, ConfigurationError):
        return str(exc), EXIT_FAILED
    if isinstance(exc, redis.AuthenticationError):
        return f"Redis refused the credentials (FINSENT_REDIS__PASSWORD): {exc}", EXIT_FAILED
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return (
            f"cannot reach Redis: {exc}\n"
            "Is the stack up? `finsent stack up` starts one on this machine; elsewhere set "
            "FINSENT_REDIS__HOST and FINSENT_REDIS__PORT.",
            EXIT_FAILED,
        )
    # kafka-python 3 says "Unable to bootstrap from [...]" when no broker answers.
    if isinstance(exc, KafkaTimeoutError) and "bootstrap" in str(exc).lower():
        return (
            f"cannot reach Kafka: {exc}\n"
            "Is the stack up? `finsent stack up` starts one on this machine; elsewhere set "
            "FINSENT_KAFKA__BOOTSTRAP_SERVERS.",
            EXIT_FAILED,
        )
    return None


def settings_error_message(exc: BaseException) -> str | None:
    """What to tell the operator about `exc`, or None when it is not a settings mistake."""
    if isinstance(exc, SettingsError):  # a value that is not even JSON, for a list or dict
        cause = f": {type(exc.__cause__).__name__}: {exc.__cause__}" if exc.__cause__ else ""
        return f"invalid settings: {exc}{cause}"
    if not isinstance(exc, ValidationError) or not _raised_reading_settings(exc):
        return None
    settings = _settings_class(exc.title)
    lines = [f"invalid settings ({exc.title}):"]
    for error in exc.errors(include_input=False, include_url=False):
        lines.append(f"  {_variable(settings, error['loc'])}: {error['msg']}")
    return "\n".join(lines)


def _raised_reading_settings(exc: ValidationError) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is BaseSettings.__init__.__code__:
            return True
        tb = tb.tb_next
    return False


def _subclasses(cls: type[BaseSettings]) -> Iterator[type[BaseSettings]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _settings_class(title: str) -> type[BaseSettings] | None:
    return next((c for c in _subclasses(BaseSettings) if c.__name__ == title), None)


def _variable(settings: type[BaseSettings] | None, loc: tuple[int | str, ...]) -> str:
    """The environment variable behind an error's location (`FINSENT_REDIS__PORT`)."""
    parts = [str(p) for p in loc]
    if settings is None or not parts:
        return ".".join(parts)
    aliases = {
        name: field.validation_alias
        for name, field in settings.model_fields.items()
        if isinstance(field.validation_alias, str)
    }
    if parts[0] in aliases.values() or parts[0] in aliases:  # read from a variable of its own
        parts[0] = aliases.get(parts[0], parts[0])
        prefix = ""
    else:
        prefix = settings.model_config.get("env_prefix") or ""
    delimiter = settings.model_config.get("env_nested_delimiter") or "__"
    return (prefix + delimiter.join(parts)).upper()
