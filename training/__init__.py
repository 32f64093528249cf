"""Training, adaptation, distillation and evaluation of finsent's model; never loaded by a service.

Modules:
    train: multi-task fine-tuning (the loop), over ``encoding`` (examples tokenised,
        padded and scored), ``distill`` (teachers' soft targets) and ``selection``
        (holdout scores, calibration, saving the best model).
    adapt: task-adaptive masked-LM pre-training on the train texts (before ``train``).
    evaluate: the raw and dedup valid-set report (metrics.json), with the news check
        (``checks/``).
    metrics: accuracy, macro-F1, per-class scores, confusion, ECE, temperature fit.
    teachers: fetching teacher encoders; ``onnx_bert`` converts their ONNX graphs to torch.
    cli: typer commands ``train``, ``adapt``, ``eval``; ``teachers_cmd``: ``finsent
        teachers list`` and ``import``.

It builds on the serving model in ``inference.model`` (``network``, ``data``,
``classifier``, ``settings``); nothing in ``inference`` imports this package, so the
scoring service never loads sklearn, the teacher converters or the training loop.
"""
