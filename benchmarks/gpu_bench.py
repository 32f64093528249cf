"""GPU throughput/latency benchmark of the shipped finsent model (bf16), self-contained.

Needs only torch, transformers (and its safetensors dependency) and the model folder
``models/finsent-minilm`` from this repository. No network, no data files, no
finsent imports, so it runs on a bare GPU machine that has the repository checkout.

Text lengths: the data folder is not on the GPU machine, and we prefer not to
commit tweet text (MIT-licensed, but X/Twitter terms may also apply). Instead
``LENGTH_HISTOGRAM`` below holds the token-length distribution (after the serving
path's link replacement, truncated at 64) of all 6,505 rows of ``sent_valid.csv`` +
``valid_data.csv``; the benchmark samples sequence lengths from it and fills them
with random word-piece ids. Attention cost depends on length, not on which tokens,
so the model-only figures are realistic. The ``end_to_end`` mode also tokenises:
it decodes those random ids into text once and times tokenise + pad + forward +
softmax, like ``Classifier.score_batch``.

Run (whole script stays well under 8 minutes on one H200)::

    python benchmarks/gpu_bench.py                      # writes $OUT/gpu_bench.json
    python benchmarks/gpu_bench.py --device cuda:0 --batch-sizes 1,32,256,1024

Results: one row per (mode, batch size) with texts/s, tokens/s, p50/p99 batch
latency in ms and peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast

REPO_ROOT = Path(__file__).resolve().parents[1]

# Token count (with [CLS]/[SEP], links replaced by "http", truncated at 64) -> rows,
# over sent_valid.csv + valid_data.csv (6,505 rows).
LENGTH_HISTOGRAM: dict[int, int] = {
    4: 4, 5: 8, 6: 11, 7: 17, 8: 39, 9: 100, 10: 87, 11: 117, 12: 125, 13: 182,
    14: 212, 15: 261, 16: 287, 17: 290, 18: 277, 19: 285, 20: 288, 21: 263, 22: 285,
    23: 238, 24: 251, 25: 230, 26: 215, 27: 198, 28: 196, 29: 226, 30: 178, 31: 158,
    32: 142, 33: 117, 34: 127, 35: 119, 36: 104, 37: 83, 38: 81, 39: 76, 40: 54,
    41: 59, 42: 63, 43: 53, 44: 35, 45: 31, 46: 27, 47: 29, 48: 24, 49: 21, 50: 21,
    51: 24, 52: 13, 53: 16, 54: 12, 55: 10, 56: 6, 57: 4, 58: 8, 59: 8, 60: 7,
    61: 13, 62: 8, 63: 12, 64: 70,
}  # fmt: skip


class Net(nn.Module):
    """Encoder + mean pooling + two linear heads, as in inference/model/network.py."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        kwargs = {"add_pooling_layer": False} if config.model_type == "bert" else {}
        self.encoder = AutoModel.from_config(config, attn_implementation="sdpa", **kwargs)  # type: ignore[no-untyped-call]
        heads = json.loads((folder / "finsent.json").read_text())
        hidden = config.hidden_size
        self.pooling = heads.get("pooling", "mean")
        self.sentiment_head = nn.Linear(hidden, len(heads["sentiment_labels"]))
        self.topic_head = nn.Linear(hidden, len(heads["topic_labels"]))
        state = load_file(str(folder / "model.safetensors"))
        self.load_state_dict(
            {k: v.float() for k, v in state.items() if not k.startswith("dropout")}
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        pooled = pooled.to(self.sentiment_head.weight.dtype)
        return self.sentiment_head(pooled), self.topic_head(pooled)


def sample_lengths(n: int, rng: random.Random) -> list[int]:
    lengths, weights = zip(*LENGTH_HISTOGRAM.items(), strict=True)
    return rng.choices(lengths, weights=weights, k=n)


def texts_like_the_data(vocab: Iterable[str], n: int, seed: int = 0) -> list[str]:
    """``n`` texts of random whole-word pieces of ``vocab`` (a tokenizer's vocabulary)
    whose token lengths follow the data's histogram; the same for the same ``seed``."""
    rng = random.Random(seed)
    # Sorted: a fast tokenizer's vocabulary comes back in a different order in each process.
    words = sorted(t for t in vocab if t.isalpha() and not t.startswith("["))
    return [
        " ".join(rng.choice(words) for _ in range(max(1, length - 2)))
        for length in sample_lengths(n, rng)
    ]


def make_batch(lengths: list[int], rng: random.Random, vocab: int) -> list[list[int]]:
    # 101/102 are BERT's [CLS]/[SEP]; ids 1000+ are ordinary word pieces.
    low = min(1000, vocab // 2)  # past the special tokens; tiny test vocabularies are small
    return [[101] + [rng.randrange(low, vocab) for _ in range(n - 2)] + [102] for n in lengths]


def pad(rows: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    rows = sorted(rows, key=len)  # Classifier sorts by length; one micro-batch per call
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_one(
    net: Net,
    tokenizer: PreTrainedTokenizerFast | None,
    texts_pool: list[str],
    batch_size: int,
    device: torch.device,
    seconds: float,
    rng: random.Random,
) -> dict[str, Any]:
    vocab = net.encoder.config.vocab_size
    latencies: list[float] = []
    tokens = 0
    warmup = 3  # untimed calls first: kernels, allocator, cuBLAS handles
    warm = False
    started = time.perf_counter()
    cuda = device.type == "cuda"  # CPU works too, for a local smoke run
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    while not warm or len(latencies) < 5 or time.perf_counter() - started < seconds:
        if tokenizer is None:  # model_only: padded before the clock starts
            rows = make_batch(sample_lengths(batch_size, rng), rng, vocab)
            ids, mask = pad(rows, device)
        else:
            texts = rng.choices(texts_pool, k=batch_size)
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        if tokenizer is not None:
            rows = tokenizer(texts, truncation=True, max_length=64)["input_ids"]
            ids, mask = pad(rows, device)
        with torch.inference_mode():
            s, t = net(ids, mask)
            out = (torch.softmax(s.float(), 1).cpu(), torch.softmax(t.float(), 1).cpu())
        del out  # the .cpu() above already synchronised
        latencies.append(time.perf_counter() - t0)
        tokens += sum(len(r) for r in rows)
        if not warm and len(latencies) == warmup:
            warm = True
            latencies.clear()
            tokens = 0
            started = time.perf_counter()
    total = sum(latencies)
    return {
        "batch_size": batch_size,
        "batches": len(latencies),
        "texts_per_s": round(batch_size * len(latencies) / total, 1),
        "tokens_per_s": round(tokens / total, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "peak_mem_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if cuda else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models" / "finsent-minilm")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    parser.add_argument("--batch-sizes", default="1,8,32,64,128,256,512,1024")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per row")
    parser.add_argument("--modes", default="model_only,end_to_end")
    parser.add_argument(
        "--budget-s", type=float, default=420.0, help="stop starting new rows after this"
    )
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    args = parser.parse_args()

    begun = time.perf_counter()
    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    torch.backends.cuda.matmul.allow_tf32 = True
    net = Net(args.model_dir).to(device=device, dtype=dtype).eval()
    net.sentiment_head.float()
    net.topic_head.float()
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(args.model_dir / "tokenizer.json"))  # type: ignore[no-untyped-call]
    rng = random.Random(0)
    # Text for end_to_end: random word pieces decoded once; re-tokenising gives
    # lengths close to the histogram's.
    vocab = net.encoder.config.vocab_size
    pool = tokenizer.batch_decode(
        [r[1:-1] for r in make_batch(sample_lengths(4096, rng), rng, vocab)],
        skip_special_tokens=True,
    )
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": args.dtype,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "model_dir": str(args.model_dir),
        "length_source": "histogram of sent_valid + valid_data token lengths (see script)",
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "gpu_bench.json"
    for mode in args.modes.split(","):
        for size in (int(s) for s in args.batch_sizes.split(",")):
            if time.perf_counter() - begun > args.budget_s:
                result["stopped_early"] = f"budget {args.budget_s}s reached before {mode}/{size}"
                break
            row = bench_one(
                net, tokenizer if mode == "end_to_end" else None, pool, size, device,
                args.seconds, rng,
            )  # fmt: skip
            row["mode"] = mode
            rows.append(row)
            print(json.dumps(row), flush=True)
            # Rewrite after every row so a run cut short still leaves results.
            target.write_text(json.dumps(result, indent=2) + "\n")
    result["elapsed_s"] = round(time.perf_counter() - begun, 1)
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
