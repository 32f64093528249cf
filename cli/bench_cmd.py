"""`finsent bench model | pipeline`: benchmarks that print figures (never timed tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inference.model.bench_cmd import bench_model_cmd

app = typer.Typer(
    help="Benchmarks: the bare model, and the whole Kafka-to-Redis scoring path.",
    no_args_is_help=True,
)
app.command("model")(bench_model_cmd)


@app.command("pipeline")
def bench_pipeline(
    documents: Annotated[
        int, typer.Option(min=1, help="Documents pushed through the pipeline.")
    ] = 6000,
    max_count: Annotated[int, typer.Option(min=1, help="Batch item cap.")] = 128,
    max_tokens: Annotated[
        int, typer.Option(min=1, help="Batch token budget (count x longest).")
    ] = 8192,
    max_wait_s: Annotated[
        float, typer.Option(help="Longest wait to fill a batch while the model is busy.")
    ] = 0.1,
    launch_when_idle: Annotated[
        bool, typer.Option(help="Close a batch at once when the model is idle.")
    ] = True,
    target_batch_s: Annotated[
        float,
        typer.Option(
            help="Close a batch once its predicted compute time (learned online) reaches "
            "this; 0 turns it off."
        ),
    ] = 0.15,
    backlog_at: Annotated[
        int,
        typer.Option(
            help="Records waiting in Kafka at which batches grow to --backlog-max-count and "
            "ignore the latency target (until half as many wait); 0 turns it off."
        ),
    ] = 512,
    backlog_max_count: Annotated[
        int, typer.Option(min=1, help="Batch item cap while behind (tokens: 64 per item).")
    ] = 256,
    precision: Annotated[
        str,
        typer.Option(help="auto (chosen from the CPU's features), fp32, bf16, fp16 or int8."),
    ] = "auto",
    eager: Annotated[
        bool, typer.Option("--eager", help="Plain PyTorch instead of the frozen CPU graph.")
    ] = False,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: shipped).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    model_seconds: Annotated[float, typer.Option(help="Seconds timing the bare model.")] = 20.0,
    latency_seconds: Annotated[float, typer.Option(help="Seconds of paced traffic.")] = 20.0,
    profile: Annotated[
        Path | None, typer.Option(help="Write a pyinstrument profile of the consumer thread.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Bare model vs the whole path (Kafka, decode, batch, model, Redis, scored topic, commit).

    Needs the stack (`finsent stack up`). Prints texts/s for both, their ratio,
    p50/p99 end-to-end latency at 50% of the measured pipeline capacity, and the peer
    baseline: a hand-written poll-128, score, HINCRBY, commit loop on the same documents.
    """
    from finsent.settings import FinsentSettings
    from finsent.stream.batching import BatchPolicy
    from inference.bench_pipeline import run_pipeline_bench
    from inference.model.bench import bench_texts
    from inference.model.classifier import Classifier
    from inference.model.cli_options import precision_choice
    from inference.model.settings import ModelSettings

    model_settings = ModelSettings()
    classifier = Classifier.load(
        model, device=device, precision=precision_choice(precision), frozen=False if eager else None
    )
    texts = bench_texts(model_settings.data_dir, 4000)
    policy = BatchPolicy(
        max_count=max_count,
        max_tokens=max_tokens,
        max_wait_s=max_wait_s,
        launch_when_idle=launch_when_idle,
        target_batch_s=target_batch_s or None,
        backlog_at=backlog_at or None,
        backlog_max_count=backlog_max_count,
        backlog_max_tokens=backlog_max_count * 64,
    )
    result = run_pipeline_bench(
        FinsentSettings(),
        classifier,
        texts,
        documents=documents,
        policy=policy,
        model_seconds=model_seconds,
        latency_seconds=latency_seconds,
        profile_to=profile,
    )
    if as_json:
        typer.echo(result.model_dump_json())
        return
    typer.echo(
        f"model     {result.model_texts_per_s:>9.1f} texts/s  (tokenise + forward; "
        f"{result.model_texts_per_s_before:.1f} before, {result.model_texts_per_s_after:.1f} after)"
    )
    typer.echo(f"pipeline  {result.pipeline_texts_per_s:>9.1f} texts/s  (Kafka -> Redis -> commit)")
    typer.echo(
        f"forward   {result.model_forward_texts_per_s:>9.1f} texts/s  (model alone, pre-tokenised)"
    )
    typer.echo(f"ratio     {result.ratio:>9.3f}          (goal >= 0.90 on CPU)")
    typer.echo(f"ratio     {result.ratio_vs_forward:>9.3f}          (vs the model alone)")
    typer.echo(
        f"latency   p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms "
        f"at {result.latency_rate_per_s:.0f} docs/s (50% of capacity)"
    )
    typer.echo(
        f"peer      {result.peer_texts_per_s:>9.1f} texts/s  (poll 128, score, HINCRBY, commit; "
        f"finsent / peer = {result.ratio_vs_peer:.3f})"
    )
    typer.echo(f"serving   {result.precision} via {result.runtime} on {result.device_capability}")
    typer.echo("settings  " + json.dumps(result.settings))
