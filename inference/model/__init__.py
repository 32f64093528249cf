"""finsent's own model: one MiniLM/BERT encoder with a sentiment head and a topic head.

Modules:
    settings: ``ModelSettings`` (the only place that reads the environment).
    network: the two-headed ``torch.nn.Module`` and its save/load format.
    data: CSV readers, text normalisation, dedup, splits and length-bucketed batches.
    classifier: the serving interface (``Classifier``).
    scores: what it returns (``ScoreArrays``, ``TextScore``).
    freeze: the frozen TorchScript graph that serves the torch precisions on CPU.
    tiny: a tiny encoder config and tokenizer built in memory (tests, plumbing).
    hardware: the serving path (precision, runtime) chosen from the device and CPU flags.
    onnx_int8: the int8 CPU path (ONNX export, dynamic quantisation, one text per call).
    bench: CPU throughput and latency benchmark.
    classify_cmd, bench_cmd: typer commands ``classify`` and ``bench model`` (their shared
        options in ``cli_options``).

Training, adaptation and evaluation live in the top-level ``training`` package, which
imports ``network``, ``data`` and ``classifier`` from here; nothing here imports it.

Only ``classifier`` and ``scores`` are meant to be imported by the rest of ``inference``;
``classifier`` imports torch, so import it lazily in code paths that do not score text.
"""
