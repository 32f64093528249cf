"""A misconfigured environment variable is the operator's input: one clear line per
mistake, naming the variable, not a traceback through typer and pydantic.

Only errors raised while a settings class reads its values are turned into a message; a
`ValidationError` from anywhere else is a fault in finsent's own code and keeps its
traceback. Values are never echoed: the variable may hold a password or a token.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError


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
