"""finsent's own model: one MiniLM/BERT encoder with a sentiment head and a topic head.

Modules:
    settings: ``ModelSettings`` (the only place that reads the environment).
    network: the two-headed ``torch.nn.Module`` and its save/load format.
    data: CSV readers, text normalisation, dedup, splits and length-bucketed batches.
    metrics: accuracy, macro-F1, per-class scores, confusion, ECE, temperature fit.
    train: multi-task fine-tuning (the loop), over ``encoding`` (examples tokenised,
        padded and scored), ``distill`` (teachers' soft targets) and ``selection``
        (holdout scores, calibration, saving the best model).
    adapt: task-adaptive masked-LM pre-training on the train texts (before ``train``).
    evaluate: the raw and dedup valid-set report (metrics.json).
    classifier: the serving interface (``Classifier``).
    scores: what it returns (``ScoreArrays``, ``TextScore``).
    freeze: the frozen TorchScript graph that serves the torch precisions on CPU.
    tiny: a tiny encoder config and tokenizer built in memory (tests, plumbing).
    hardware: the serving path (precision, runtime) chosen from the device and CPU flags.
    onnx_int8: the opt-in int8 CPU path (ONNX export, dynamic quantisation, ONNX Runtime).
    bench: CPU throughput and latency benchmark.
    cli: typer commands ``adapt``, ``train``, ``eval``, ``classify``, ``bench-model``
        (``classify`` in ``classify_cmd``; shared options in ``cli_options``).
    teachers_cmd: typer commands ``finsent teachers list`` and ``import``.

Only ``classifier`` and ``scores`` are meant to be imported by the rest of ``inference``;
``classifier`` imports torch, so import it lazily in code paths that do not score text.
"""
