"""BatchBuilder: batches close on count, token budget or age, whichever comes first."""

from finsent.stream.batching import BatchBuilder, BatchPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closes_on_count() -> None:
    builder: BatchBuilder[str] = BatchBuilder(BatchPolicy(max_count=3, max_tokens=10**6), len)
    for item in ("a", "b"):
        builder.add(item)
        assert not builder.full()
    builder.add("c")
    assert builder.full()
    assert builder.take() == ["a", "b", "c"]
    assert len(builder) == 0


def test_token_budget_counts_padding_to_the_longest_item() -> None:
    builder: BatchBuilder[str] = BatchBuilder(BatchPolicy(max_count=100, max_tokens=40), len)
    builder.add("x" * 10)
    builder.add("x" * 2)
    # Two items padded to 10 tokens = 20; a third of 15 would make 3 x 15 = 45 > 40.
    assert builder.fits(10)
    assert not builder.fits(15)
    builder.add("x" * 10)
    builder.add("x" * 10)
    assert builder.full()  # 4 x 10 = 40


def test_an_oversized_item_still_fits_an_empty_batch() -> None:
    builder: BatchBuilder[str] = BatchBuilder(BatchPolicy(max_tokens=5), len)
    assert builder.fits(50)


def test_closes_on_age_of_the_first_item() -> None:
    clock = FakeClock()
    builder: BatchBuilder[str] = BatchBuilder(BatchPolicy(max_wait_s=0.5), len, clock)
    assert not builder.expired()
    builder.add("a")
    clock.now += 0.3
    assert not builder.expired()
    assert abs(builder.time_left_s() - 0.2) < 1e-9
    builder.add("b")
    clock.now += 0.2
    assert builder.expired()
    builder.take()
    assert not builder.expired()
