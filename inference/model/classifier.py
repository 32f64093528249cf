"""Serving interface: load the shipped model and score texts.

Typical use::

    clf = Classifier.load()                    # shipped model, serving path for this CPU
    scores = clf.score_batch(["$AAPL beats estimates", "Fed holds rates"])
    scores[0].sentiment, scores[0].score, scores[0].topic

For a streaming consumer that overlaps tokenisation with the model::

    encoded = clf.tokenize(next_texts)         # CPU, while the model runs
    scores = clf.score_encoded(encoded)

Inside one call, texts are grouped by their own token length rounded up to
``PAD_MULTIPLE`` (never padded to a neighbour's length, so a text scores the same in any
batch) and cut into micro-batches; results come back in input order.

The serving path (precision and runtime) is chosen at load from the device and what the CPU
computes natively (``inference.model.hardware``): int8 through ONNX Runtime on CPU, bf16 on
CUDA, and a frozen TorchScript graph (``freeze.freeze_network``) for the torch precisions on CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS
from inference.model.data import prepare_text
from inference.model.freeze import Forward, freeze_network
from inference.model.hardware import (
    Precision,
    PrecisionChoice,
    ServingPlan,
    choose_serving,
    detect_cpu,
    onnxruntime_available,
)
from inference.model.network import FinsentNet, HeadsConfig
from inference.model.scores import ScoreArrays, TextScore
from inference.model.settings import SHIPPED_MODEL_DIR
from inference.model.tiny import tiny_bert_config, tiny_tokenizer

_DTYPES: dict[Precision, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "int8": torch.float32,  # the torch copy stays fp32; ONNX Runtime runs the int8 graph
}
PAD_MULTIPLE = 16
"""Texts are padded to a multiple of this many tokens, independently of their batch.

16 rather than 8: each distinct width is one more forward pass, and small batches (light
live traffic) paid for it. Measured on the dev CPU, frozen graph, tokenise + score: 16
texts 201 -> 219 texts/s, 32 texts 234 -> 298; at 128 texts within noise (363 vs 349).
"""
MICRO_BATCH_SIZES: dict[str, int] = {"cpu": 64, "cuda": 1024}
"""Texts per forward pass by device type, when the caller does not set it.

On CPU, 64 texts of one padded width keep a forward pass in cache (docs/model.md). A GPU
spends about as long launching a pass of 64 texts as one of 1,024, so it takes more per
pass (docs/benchmarks.md, section 3).
"""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedBatch:
    """Tokenised texts, sorted by length and cut into padded micro-batches.

    Attributes:
        chunks: ``(input_ids, attention_mask)`` per micro-batch, shortest first,
            on CPU (moved to the device when scored).
        order: ``order[k]`` is the input position of the k-th sorted text.
    """

    chunks: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    order: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.order)


def default_precision(device: str) -> Precision:
    """The precision ``Classifier.load`` picks for ``device`` on this machine's CPU."""
    return plan_serving(device).precision


def plan_serving(device: str, requested: PrecisionChoice = "auto") -> ServingPlan:
    """The serving path for ``device`` here: see ``inference.model.hardware.choose_serving``."""
    return choose_serving(device, detect_cpu(), requested, int8_runtime=onnxruntime_available())


class Classifier:
    """The two-headed sentiment and topic model, ready to score text.

    Build with ``Classifier.load`` (a saved model) or ``Classifier.random_tiny``
    (tests); the constructor is for those two.

    Args:
        net: The network (already on ``device`` and in its serving dtype).
        tokenizer: The matching fast tokenizer.
        device: Torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        max_length: Truncation length in tokens (with ``[CLS]``/``[SEP]``).
        micro_batch_size: Texts per forward pass inside one call; ``None`` means
            ``MICRO_BATCH_SIZES`` for the device type.
        frozen: Serve through a traced, frozen TorchScript graph (see ``freeze_network``);
            ``None`` means on CPU only. Ignored when ``forward`` is given.
        plan: The serving path this classifier was built for (``fp32``/torch if omitted).
        forward: A compiled forward pass to serve instead of the network (the int8
            ONNX Runtime graph).
    """

    def __init__(
        self,
        net: FinsentNet,
        tokenizer: PreTrainedTokenizerFast,
        device: str = "cpu",
        max_length: int | None = None,
        micro_batch_size: int | None = None,
        frozen: bool | None = None,
        plan: ServingPlan | None = None,
        forward: Forward | None = None,
    ) -> None:
        self._net = net.eval()
        self._device = torch.device(device)
        self._plan = plan or ServingPlan("fp32", "torch", "fixed")
        use_graph = self._device.type == "cpu" if frozen is None else frozen
        self._forward: Forward = forward or self._net
        if forward is None and use_graph:
            self._forward = freeze_network(self._net, self._device) or self._net
        self._tokenizer = tokenizer
        self._max_length = max_length or net.heads.max_length
        self._micro_batch_size = micro_batch_size or MICRO_BATCH_SIZES.get(
            self._device.type, MICRO_BATCH_SIZES["cpu"]
        )
        self._pad_id = int(tokenizer.pad_token_id or 0)
        # The Rust tokenizer directly: ~2x faster than the transformers wrapper's
        # __call__ on short texts, and it returns plain id lists we pad ourselves.
        self._fast: Tokenizer = tokenizer.backend_tokenizer
        self._fast.no_padding()
        self._fast.enable_truncation(self._max_length)
        heads = net.heads
        self._temperatures = (heads.sentiment_temperature, heads.topic_temperature)

    @property
    def model_version(self) -> str:
        """The version string recorded when the model was trained."""
        return self._net.heads.model_version

    @property
    def max_length(self) -> int:
        """Truncation length in tokens, ``[CLS]`` and ``[SEP]`` included."""
        return self._max_length

    @property
    def heads(self) -> HeadsConfig:
        """Label sets, temperatures, pooling and the training record."""
        return self._net.heads

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return self._device

    @property
    def frozen(self) -> bool:
        """Whether scoring runs through a compiled graph (TorchScript or ONNX Runtime)."""
        return self._forward is not self._net

    @property
    def precision(self) -> Precision:
        """Weight precision served: ``fp32``, ``bf16``, ``fp16`` or ``int8``."""
        return self._plan.precision

    @property
    def runtime(self) -> str:
        """``onnxruntime``, ``torchscript`` (frozen graph) or ``torch-eager``."""
        if self._plan.runtime == "onnxruntime":
            return "onnxruntime"
        return "torchscript" if self.frozen else "torch-eager"

    @property
    def plan(self) -> ServingPlan:
        """The serving path chosen at load, with the reason."""
        return self._plan

    @property
    def net(self) -> FinsentNet:
        """The underlying ``torch.nn.Module`` (for evaluation and benchmarks)."""
        return self._net

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        device: str = "cpu",
        precision: PrecisionChoice | None = None,
        max_length: int | None = None,
        micro_batch_size: int | None = None,
        frozen: bool | None = None,
    ) -> Classifier:
        """Load a saved model folder, offline, on the serving path chosen for this machine.

        Args:
            path: Model folder; ``None`` means the shipped ``models/finsent-minilm``.
            device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (one process per GPU).
            precision: ``fp32``, ``bf16``, ``fp16`` or ``int8``; ``None`` or ``auto``
                picks from the device and the CPU's features (``plan_serving``).
            max_length: Truncation override; ``None`` uses the trained length.
            micro_batch_size: Texts per forward pass; ``None``: by device type.
            frozen: Serve through a frozen TorchScript graph; ``None``: on CPU only.

        Returns:
            A classifier in eval mode on ``device``.
        """
        folder = path or SHIPPED_MODEL_DIR
        net = FinsentNet.load(folder)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder), local_files_only=True)
        return cls._ready(net, tokenizer, device, precision, max_length, micro_batch_size, frozen)

    @classmethod
    def random_tiny(
        cls, seed: int = 0, device: str = "cpu", micro_batch_size: int | None = None
    ) -> Classifier:
        """A tiny randomly initialised model with the real heads, for plumbing tests.

        Two layers of width 32 and a character-level WordPiece vocabulary built in
        memory: nothing is read or downloaded, and it builds in well under a second.
        Its outputs are meaningless but have the real shapes and label sets.

        Args:
            seed: Seeds the weight initialisation.
            device: Torch device string.
            micro_batch_size: Texts per forward pass; ``None``: by device type.
        """
        torch.manual_seed(seed)
        tokenizer = tiny_tokenizer()
        config = tiny_bert_config(len(tokenizer))
        net = FinsentNet.from_encoder_config(config, HeadsConfig(model_version="random-tiny"))
        return cls._ready(net, tokenizer, device, "fp32", None, micro_batch_size, False)

    @classmethod
    def _ready(
        cls,
        net: FinsentNet,
        tokenizer: PreTrainedTokenizerFast,
        device: str,
        precision: PrecisionChoice | None,
        max_length: int | None,
        micro_batch_size: int | None,
        frozen: bool | None,
    ) -> Classifier:
        plan = plan_serving(device, precision or "auto")
        log.info(
            "serving path: %s via %s on %s (%s)", plan.precision, plan.runtime, device, plan.reason
        )
        net = net.to(device=device, dtype=_DTYPES[plan.precision])
        # Heads stay fp32: they are tiny, and fp32 logits keep the softmax exact.
        net.sentiment_head.float()
        net.topic_head.float()
        forward: Forward | None = None
        if plan.runtime == "onnxruntime":
            from inference.model.onnx_int8 import OnnxForward

            forward = OnnxForward.build(net, torch.get_num_threads())
        return cls(
            net.eval(), tokenizer, device, max_length, micro_batch_size, frozen, plan, forward
        )

    def save(self, folder: Path) -> None:
        """Write weights (fp16), configs and tokenizer so ``load(folder)`` restores them."""
        self._net.save(folder)
        self._tokenizer.save_pretrained(str(folder))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text as the model will see it (truncated, with specials)."""
        encodings = self._fast.encode_batch([prepare_text(t) for t in texts])
        return [len(e.ids) for e in encodings]

    def tokenize(self, texts: Sequence[str]) -> EncodedBatch:
        """Tokenise, group by padded length and pad into micro-batches (CPU only).

        Every text is padded to its own length rounded up to ``PAD_MULTIPLE`` tokens, never
        to its neighbours' length: the padded width changes the model's rounding, and a
        replay batches texts differently than live traffic did. Measured on 600 valid
        tweets scored in batches of 600, 128 and 37: padding to the longest in each
        micro-batch moved probabilities by up to 0.022 and flipped one label; padding
        to the text's own width left them within 4e-7 and flipped none.

        Safe to call from another thread while ``score_encoded`` runs: the Rust
        tokenizer releases the GIL.
        """
        # encode_batch runs in Rust on the tokenizer's own thread pool with the GIL
        # released; the padding below is whole-array numpy, not a Python loop per text.
        encodings = self._fast.encode_batch([prepare_text(t) for t in texts])
        ids = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        widths = -(-lengths // PAD_MULTIPLE) * PAD_MULTIPLE
        order = np.argsort(lengths, kind="stable")  # shortest first, ties in input order
        chunks: list[tuple[torch.Tensor, torch.Tensor]] = []
        sorted_widths = widths[order]
        bounds = np.flatnonzero(np.diff(sorted_widths)) + 1
        for group in np.split(order, bounds) if len(order) else []:
            width = int(widths[group[0]])
            columns = np.arange(width, dtype=np.int64)
            for start in range(0, len(group), self._micro_batch_size):
                part = group[start : start + self._micro_batch_size]
                valid = columns[None, :] < lengths[part][:, None]
                source = np.where(valid, starts[part][:, None] + columns[None, :], 0)
                input_ids = np.where(valid, flat[source] if len(flat) else 0, self._pad_id)
                mask = valid.astype(np.int64)
                chunks.append((torch.from_numpy(input_ids), torch.from_numpy(mask)))
        return EncodedBatch(chunks=tuple(chunks), order=tuple(order.tolist()))

    @torch.inference_mode()
    def logits(self, encoded: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Untempered fp32 logits of both heads on CPU, in input order."""
        n = len(encoded)
        sent = torch.empty((n, len(SENTIMENT_LABELS)), dtype=torch.float32)
        topic = torch.empty((n, len(TOPIC_LABELS)), dtype=torch.float32)
        if n == 0:
            return sent, topic
        # Every micro-batch is queued before anything is read back: one copy to the host
        # per call, so a GPU never idles while Python waits on each chunk's result (on
        # CPU the copies are no-ops and this is the same loop).
        outputs = [
            self._forward(
                input_ids.to(self._device, non_blocking=True),
                mask.to(self._device, non_blocking=True),
            )
            for input_ids, mask in encoded.chunks
        ]
        positions = torch.tensor(encoded.order, dtype=torch.long)
        sent[positions] = torch.cat([s.float() for s, _ in outputs]).cpu()
        topic[positions] = torch.cat([t.float() for _, t in outputs]).cpu()
        return sent, topic

    def score_arrays(self, encoded: EncodedBatch) -> ScoreArrays:
        """Score a batch made by ``tokenize`` into arrays, in the original text order."""
        sent_logits, topic_logits = self.logits(encoded)
        sent_probs = torch.softmax(sent_logits / self._temperatures[0], dim=1)
        topic_probs = torch.softmax(topic_logits / self._temperatures[1], dim=1)
        return ScoreArrays(sent_probs.numpy(), topic_probs.numpy())

    def score_encoded(self, encoded: EncodedBatch) -> list[TextScore]:
        """Score a batch made by ``tokenize``; one ``TextScore`` per text, in input order."""
        if len(encoded) == 0:
            return []
        return self.score_arrays(encoded).rows()

    def score_batch(self, texts: Sequence[str]) -> list[TextScore]:
        """Score texts with both heads in one forward pass per micro-batch.

        Args:
            texts: Any number of texts (empty strings are allowed).

        Returns:
            One ``TextScore`` per text, in input order.
        """
        return self.score_encoded(self.tokenize(texts))
