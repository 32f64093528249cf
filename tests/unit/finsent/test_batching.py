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


def test_cost_model_learns_overhead_and_per_token_cost() -> None:
    from finsent.stream.batching import ComputeCostModel

    model = ComputeCostModel()
    assert model.predict_s(100) is None
    for tokens in (100, 400, 1600, 200, 3200):
        model.observe(tokens, 0.01 + 0.0001 * tokens)  # 10 ms per call + 0.1 ms per token
    fit = model.coefficients()
    assert fit is not None
    assert abs(fit[0] - 0.01) < 1e-6 and abs(fit[1] - 0.0001) < 1e-9
    assert abs((model.predict_s(1000) or 0) - 0.11) < 1e-6


def test_cost_model_without_spread_charges_everything_per_token() -> None:
    from finsent.stream.batching import ComputeCostModel

    model = ComputeCostModel()
    model.observe(500, 0.5)
    assert model.coefficients() == (0.0, 0.001)  # over-predicts bigger batches: the safe side


def test_cost_model_follows_a_machine_that_slows_down() -> None:
    from finsent.stream.batching import ComputeCostModel

    model = ComputeCostModel(decay=0.5)
    for _ in range(5):
        model.observe(1000, 0.1)
    for _ in range(10):
        model.observe(1000, 0.4)  # neighbours took the cores
    assert 0.39 < (model.predict_s(1000) or 0) < 0.41


def test_latency_target_closes_batches_by_predicted_compute_time() -> None:
    policy = BatchPolicy(max_count=1000, max_tokens=10**9, target_batch_s=0.205)
    builder: BatchBuilder[str] = BatchBuilder(policy, len)
    builder.add("x" * 30)
    builder.add("x" * 30)
    assert builder.fits(30) and not builder.full()  # untrained: counts and tokens only
    builder.record([30] * 10, 0.1)  # 300 tokens took 0.1 s: 1/3 ms per token
    builder.record([30] * 20, 0.2)
    # 60 tokens open; 0.205 s buys 615 tokens: 18 more items of 30 fit, a 19th does not.
    for _ in range(18):
        assert builder.fits(30) and not builder.full()
        builder.add("x" * 30)
    assert not builder.fits(30) and not builder.full()
    assert abs((builder.predicted_s() or 0) - 0.2) < 1e-6
    builder.add("x" * 20)  # an item the runner added anyway (it fit the old estimate)
    assert builder.full()
    assert len(builder.take()) == 21


def test_latency_target_still_admits_one_item_into_an_empty_batch() -> None:
    policy = BatchPolicy(target_batch_s=0.01)
    builder: BatchBuilder[str] = BatchBuilder(policy, len)
    builder.record([100], 1.0)
    assert builder.fits(100)  # a batch of one is the smallest the model can run


def test_no_target_means_the_cost_model_never_limits() -> None:
    builder: BatchBuilder[str] = BatchBuilder(BatchPolicy(max_count=50, max_tokens=10**9), len)
    builder.record([10], 10.0)
    for _ in range(49):
        builder.add("x" * 10)
    assert builder.fits(10) and not builder.full()
