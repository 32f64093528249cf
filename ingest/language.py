"""Language of a document: the source's word when it gives one, else lingua's guess."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

# Twitter's `lang` values that mean "no idea", and its regional variants.
_UNKNOWN = {"", "und", "zxx", "qme", "qht", "qst"}


DETECT_CHARS = 1000
"""Characters of a text that language detection reads."""


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
        # The opening says which language it is; the whole of a 20,000-character text
        # cost 0.2 s of CPU under the GIL (a push request's worth of stall for everyone).
        found = self._detector.detect_language_of(text[:DETECT_CHARS])
        return None if found is None else str(found.iso_code_639_1.name).lower()
