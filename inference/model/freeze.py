"""The frozen TorchScript graph that serves the torch precisions on CPU."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import cast

import torch

from inference.model.network import FinsentNet

Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``(input_ids, attention_mask) -> (sentiment_logits, topic_logits)``."""

log = logging.getLogger(__name__)


def freeze_network(net: FinsentNet, device: torch.device) -> Forward | None:
    """Trace the network into a frozen TorchScript graph; ``None`` if it can't be trusted.

    Why: the graph runs in C++ without taking the GIL between operators, so the consumer's
    main thread (decoding, Redis and Kafka writes) no longer stalls the model at every op,
    and per-call dispatch overhead drops. Measured on the 2-core dev CPU: 1.0-1.4x the
    texts/s of eager, most at small batches; logits bit-identical (docs/model.md).

    The trace runs on a padded batch so the attention-mask path is recorded, then is
    checked against eager on other shapes (all-ones mask included); any difference or
    tracing error falls back to eager with a warning, e.g. for an unusual local checkpoint.
    """
    vocab = int(net.encoder.config.vocab_size)

    def probe(rows: int, width: int, pad_from: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        ids = (torch.arange(rows * width).reshape(rows, width) * 7919 + 1000) % vocab
        mask = torch.ones((rows, width), dtype=torch.long)
        if pad_from is not None:
            mask[0, pad_from:] = 0
        return ids.to(device), mask.to(device)

    # Tracing reads every attribute of every module, among them transformers' training-only
    # `loss_function` property, which then logs "loss_type=None ... unrecognized" on every
    # start: noise for an operator, about a loss serving never computes.
    transformers_log = logging.getLogger("transformers.modeling_utils")
    level = transformers_log.level
    transformers_log.setLevel(logging.ERROR)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # Tracing warns at every Python branch on a tensor, and TorchScript itself is
            # deprecated for torch.compile (which needs a C++ toolchain at run time on
            # CPU; the pinned torch runs TorchScript fully). The checks below decide.
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(  # type: ignore[no-untyped-call]
                net, probe(2, 16, 9), check_trace=False
            )
            graph = torch.jit.freeze(traced)
            for rows, width, pad_from in ((3, 24, None), (1, 8, None), (5, 40, 17)):
                ids, mask = probe(rows, width, pad_from)
                for want, got in zip(net(ids, mask), graph(ids, mask), strict=True):
                    if not torch.equal(want, got):
                        log.warning("frozen graph disagrees with eager; serving eager")
                        return None
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: serve eager
        log.warning("could not freeze the network; serving eager", extra={"error": str(exc)})
        return None
    finally:
        transformers_log.setLevel(level)
    return cast(Forward, graph)
