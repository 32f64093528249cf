"""Ticker tagging: cashtags, plus company names and aliases from the bundled symbol list."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

_TICKER: Final = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
# A symbol with at most one class/exchange suffix: $AAPL, $BRK.B, $RDS-A, $ABT.TO.
_CASHTAG: Final = re.compile(
    r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,6}(?:[.\-][A-Za-z]{1,2})?)(?![A-Za-z0-9]|[.\-][A-Za-z0-9])"
)


@dataclass(frozen=True)
class SymbolEntry:
    """One row of `ingest/data/symbols.csv`."""

    symbol: str
    name: str
    aliases: tuple[str, ...]
    bare: bool


def load_symbols(text: str) -> list[SymbolEntry]:
    """Parse the symbol CSV (see ingest/data/README.md for the columns)."""
    entries = []
    for row in csv.DictReader(text.splitlines()):
        symbol = row["symbol"].strip()
        if not _TICKER.match(symbol):
            raise ValueError(f"bad symbol {symbol!r} in symbol list")
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip())
        entries.append(SymbolEntry(symbol, row["name"].strip(), aliases, row["bare"] == "yes"))
    return entries


def bundled_symbols() -> list[SymbolEntry]:
    return load_symbols(resources.files("ingest").joinpath("data/symbols.csv").read_text("utf-8"))


def as_ticker(value: str) -> str | None:
    """`value` as a wire ticker (upper case, no trailing dot), or None if it is not one."""
    candidate = value.strip().lstrip("$").upper().rstrip(".-")
    return candidate if _TICKER.match(candidate) else None


class TickerTagger:
    """Finds tickers in text: cashtags, whole-word aliases (case-sensitive), bare symbols.

    Order matters, because the first ticker keys the Kafka message: tickers a trusted
    sender asserted come first, then known symbols by first mention, then unknown
    cashtags by first mention.
    """

    def __init__(self, entries: Sequence[SymbolEntry], max_tickers: int = 10) -> None:
        self._known = {e.symbol for e in entries}
        self._max = max_tickers
        by_phrase: dict[str, str] = {}
        for entry in entries:
            for alias in entry.aliases:
                by_phrase.setdefault(alias, entry.symbol)
            if entry.bare:
                by_phrase.setdefault(entry.symbol, entry.symbol)
        self._by_phrase = by_phrase
        # Longest first, so "Bank of America" wins over a shorter overlapping alias.
        phrases = sorted(by_phrase, key=len, reverse=True)
        self._phrases = re.compile(
            r"(?<![\w$&.-])(" + "|".join(re.escape(p) for p in phrases) + r")(?![\w&]|-\w)"
        )

    @classmethod
    def bundled(cls, max_tickers: int = 10) -> TickerTagger:
        return cls(bundled_symbols(), max_tickers)

    def tag(
        self, text: str, cashtags: Iterable[str] = (), asserted: Iterable[str] = ()
    ) -> tuple[str, ...]:
        """Tickers mentioned in `text`, most relevant first, at most `max_tickers`.

        Args:
            text: cleaned title and body.
            cashtags: symbols the source already extracted (Twitter entities).
            asserted: tickers a trusted sender stated; invalid ones are ignored.
        """
        found: dict[str, tuple[int, int]] = {}  # ticker -> (rank, position)

        def add(ticker: str | None, rank: int, position: int) -> None:
            if ticker is not None and (ticker not in found or found[ticker] > (rank, position)):
                found[ticker] = (rank, position)

        for i, value in enumerate(asserted):
            add(as_ticker(value), 0, i)
        for match in _CASHTAG.finditer(text):
            ticker = as_ticker(match.group(1))
            add(ticker, 1 if ticker in self._known else 2, match.start())
        for match in self._phrases.finditer(text):
            add(self._by_phrase[match.group(1)], 1, match.start())
        end = len(text)
        for value in cashtags:
            ticker = as_ticker(value)
            add(ticker, 1 if ticker in self._known else 2, end)
        ordered = sorted(found, key=lambda t: found[t])
        return tuple(ordered[: self._max])
