"""The int8 CPU serving path: the network exported to ONNX, quantised, run by ONNX Runtime.

Built at load time from the same weights torch serves (nothing extra is shipped or
committed): trace-export the fp32 network (about a second idle), then quantise the weights
of every MatMul to int8 per output channel (about two seconds). Activations are quantised
per call from their observed range; LayerNorms, softmax, pooling and both heads (Gemm
nodes) stay fp32, so the temperatures apply to fp32 logits as before.

Why ONNX Runtime rather than torch's own dynamic quantisation: torch's int8 Linear layers
were cheaper per text on this machine but failed the accuracy bar (0.3 points of fp32 on
the dedup valid sets); ONNX Runtime's per-channel graph passed it with room to spare, and
``run`` releases the GIL like the frozen TorchScript graph. Figures in docs/model.md,
"Serving paths"; a test checks accuracy against fp32 on a slice of both valid sets.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from inference.model.network import FinsentNet

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = ("sentiment", "topic")


def export_onnx(net: FinsentNet, path: Path) -> None:
    """Trace-export the fp32 network with dynamic batch and sequence axes."""
    net = net.float().eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[0, 9:] = 0  # a padded row, so the attention-mask path is recorded
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes.update({name: {0: "batch"} for name in OUTPUTS})
    with torch.inference_mode(), warnings.catch_warnings():
        # Tracing warns at every Python branch on a tensor; the load-time check decides.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (ids, mask),
            str(path),
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(net: FinsentNet, folder: Path) -> Path:
    """Export ``net`` and quantise it into ``folder``; returns the int8 model's path.

    Per-channel int8 weights for every MatMul (and the embedding tables), activations
    quantised per call. Measured on the full dedup valid sets against fp32 (0.8791 /
    0.8907 accuracy): this graph 0.8812 / 0.8915; the same after ONNX Runtime's BERT
    fusions 0.8770 / 0.8898 and slower; torch's own dynamic quantisation 0.8748
    (per channel) and 0.8765 (per tensor) on sentiment, outside the 0.3-point bar.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = folder / "fp32.onnx"
    int8 = folder / "int8.onnx"
    export_onnx(net, fp32)
    hint = _DropPreprocessingHint()
    root = logging.getLogger()
    root.addFilter(hint)
    try:
        quantize_dynamic(fp32, int8, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(hint)
    return int8


class _DropPreprocessingHint(logging.Filter):
    """Drops ONNX Runtime's root-logger hint to run its optional pre-processing pass.

    The graph quantised here is the one measured (docs/model.md); the hint would be a
    WARNING on every service start and CLI call that serves int8.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


def open_session(model: bytes | str, threads: int) -> onnxruntime.InferenceSession:
    """A CPU session with ``threads`` intra-op threads, all graph optimisations, no spinning.

    Spinning is off: on a shared or small host, spin-waiting worker threads take the
    cores from the consumer's own threads (the same effect as OpenMP's default
    spin-wait in torch, docs/benchmarks.md); measured here, spinning saved no CPU time
    per text.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxForward:
    """A ``(input_ids, attention_mask) -> (sentiment, topic)`` callable over ONNX Runtime.

    Each text runs as its own call, unpadded. The dynamic graph quantises activations with
    one range per call, so a call over a whole micro-batch made a text's scores depend on
    its batch-mates (2.7% of real tweets changed a label between batchings); one text per
    call makes the range that text's own, so a replay scores exactly what live scored.
    It is faster, not slower: no padding is computed, and two single-threaded calls side
    by side ran 712 texts/s where one two-threaded call per micro-batch of 64 ran 628
    (AVX-512 VNNI, idle; docs/model.md, "Per-text int8").

    ``InferenceSession.run`` releases the GIL, so ``workers`` threads run texts side by
    side on one session (each call single-threaded), and the consumer's main thread keeps
    decoding and writing meanwhile.

    Args:
        session: The int8 session built by ``OnnxForward.build``.
        workers: Calls in flight at once (the CPU threads granted to the model).
        per_text: One call per text (serving); False runs each micro-batch as one call,
            padded, as the benchmarks of other int8 graphs measured them.
    """

    def __init__(
        self, session: onnxruntime.InferenceSession, workers: int = 1, *, per_text: bool = True
    ) -> None:
        self._session = session
        self._pool = ThreadPoolExecutor(workers, "finsent-int8") if workers > 1 else None
        self._per_text = per_text

    @classmethod
    def build(cls, net: FinsentNet, threads: int) -> OnnxForward:
        """Quantise ``net``; ``threads`` single-threaded calls in flight on one session."""
        with tempfile.TemporaryDirectory(prefix="finsent-onnx-") as tmp:
            path = quantize_int8(net, Path(tmp))
            model_bytes = path.read_bytes()
        return cls(open_session(model_bytes, 1), workers=threads)

    def _one(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self._session.run(list(OUTPUTS), feeds))

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ids = input_ids.numpy().astype(np.int64, copy=False)
        mask = attention_mask.numpy().astype(np.int64, copy=False)
        if not self._per_text:
            sentiment, topic = self._one({INPUTS[0]: ids, INPUTS[1]: mask})
            return torch.from_numpy(sentiment), torch.from_numpy(topic)
        # Padding is on the right (``Classifier.tokenize``): a row's tokens are its prefix.
        lengths = mask.sum(axis=1).tolist()
        feeds = [
            {INPUTS[0]: ids[row : row + 1, :n], INPUTS[1]: mask[row : row + 1, :n]}
            for row, n in enumerate(lengths)
        ]
        outputs = list(self._pool.map(self._one, feeds)) if self._pool else map(self._one, feeds)
        sentiment, topic = (np.concatenate(head) for head in zip(*outputs, strict=True))
        return torch.from_numpy(sentiment), torch.from_numpy(topic)
