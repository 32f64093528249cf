"""Closed label sets shared by the model, the wire schemas and the store.

The order of each tuple is the order of the model's output logits.
"""

from typing import Final, Literal

SentimentLabel = Literal["negative", "neutral", "positive"]

SENTIMENT_LABELS: Final[tuple[SentimentLabel, ...]] = ("negative", "neutral", "positive")

# twitter-financial-news-sentiment ids -> our order: 0 Bearish, 1 Bullish, 2 Neutral.
SENTIMENT_DATASET_ID_TO_LABEL: Final[dict[int, SentimentLabel]] = {
    0: "negative",
    1: "positive",
    2: "neutral",
}

# twitter-financial-news-topic ids 0..19, in the upstream card's LABEL_n order.
TOPIC_LABELS: Final[tuple[str, ...]] = (
    "Analyst Update",
    "Fed | Central Banks",
    "Company | Product News",
    "Treasuries | Corporate Debt",
    "Dividend",
    "Earnings",
    "Energy | Oil",
    "Financials",
    "Currencies",
    "General News | Opinion",
    "Gold | Metals | Materials",
    "IPO",
    "Legal | Regulation",
    "M&A | Investments",
    "Macro",
    "Markets",
    "Politics",
    "Personnel Change",
    "Stock Commentary",
    "Stock Movement",
)


def topic_slug(label: str) -> str:
    """A key- and label-safe slug for a topic name: 'Fed | Central Banks' -> 'fed-central-banks'."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in label.replace("&", "and"))
    return "-".join(part for part in out.split("-") if part)
