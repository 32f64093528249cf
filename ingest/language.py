"""Language of a document: the source's word when it gives one, else lingua's guess."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

# Twitter's `lang` values that mean "no idea", and its regional variants.
_UNKNOWN = {"", "und", "zxx", "qme", "qht", "qst"}


class LanguageDetector:
    """lingua restricted to a few languages (fast, and fewer wrong exotic guesses)."""

    def __init__(self, languages: Sequence[str]) -> None:
        chosen: list[Any] = []
        for code in languages:
            iso = getattr(IsoCode639_1, code.upper(), None)
            if iso is None:
                raise ValueError(f"unknown ISO 639-1 language code {code!r}")
            chosen.append(Language.from_iso_code_639_1(iso))
        builder = (
            LanguageDetectorBuilder.from_languages(*chosen)
            if len(chosen) > 1
            else LanguageDetectorBuilder.from_all_languages()
        )
        self._detector = builder.with_low_accuracy_mode().build()

    def detect(self, text: str, stated: str | None = None) -> str | None:
        """An ISO 639-1 code, or None when neither the source nor lingua is sure."""
        if stated is not None:
            code = stated.strip().lower().split("-")[0]
            if code not in _UNKNOWN and code.isalpha() and len(code) <= 3:
                return code
        found = self._detector.detect_language_of(text)
        return None if found is None else str(found.iso_code_639_1.name).lower()
