"""One prepared run for a lent GPU: model alone, in-process pipeline, real-broker pipeline.

Runs the three benchmarks one after another, each as its own process under its own time
budget, so that the whole suite ends within ``--budget-s`` (default 450 s, under the
8-minute window a GPU loan allows) and a phase that hangs or fails leaves the others'
results. Writes ``$OUT/gpu_suite.json`` after every phase (plus each phase's own JSON):

1. ``model``: ``benchmarks/gpu_serving_bench.py``, the model alone as the consumer serves
   it (``Classifier.logits`` on tokenised batches), before and after issue 14's change,
   and the forward passes alone, bf16.
2. ``in_process``: ``benchmarks/gpu_pipeline_bench.py``, decode -> batch -> tokenise ->
   model -> scores -> points, without Kafka, with the consumer's one-batch prefetch.
3. ``in_process_xN``: N such processes on the one GPU (``--processes``, default 4), started
   together by a wall-clock barrier; the aggregate is all documents over the union of
   their spans.
4. ``broker``: ``finsent bench pipeline --json`` on a real Kafka broker and Redis. Needs
   the stack: if ``FINSENT_KAFKA__BOOTSTRAP_SERVERS`` does not answer, the suite tries
   ``finsent stack up`` (Java and redis-server must be installed); if that fails too the
   phase is recorded as skipped with the reason, never faked.

``--dry-run`` runs the same three phases on the CPU with a tiny random model and a few
seconds each (about a minute): it proves the script, its budgets and its JSON before a
loan, on a machine without a GPU.

    python benchmarks/gpu_suite.py --device cuda:0 --out "$OUT"
    python benchmarks/gpu_suite.py --dry-run --out /tmp/suite
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.results import save  # noqa: E402

PYTHON = sys.executable
FINSENT = [PYTHON, "-c", "from cli.main import main; main()"]


def phase(name: str, command: list[str], budget_s: float, env: dict[str, str]) -> dict[str, Any]:
    """Run one phase under a hard time limit; its stdout tail and status go to the JSON."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=budget_s,
            check=False,
        )
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        tail = (done.stdout + done.stderr)[-3000:]
        stdout = done.stdout
    except subprocess.TimeoutExpired as exc:
        status = f"timed out after {budget_s:.0f} s"
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        tail = stdout[-3000:]
    elapsed = round(time.perf_counter() - started, 1)
    print(f"[{name}] {status} in {elapsed} s", flush=True)
    return {"status": status, "elapsed_s": elapsed, "command": command, "tail": tail,
            "stdout": stdout}  # fmt: skip


def processes_phase(
    n: int, command: list[str], budget_s: float, env: dict[str, str]
) -> dict[str, Any]:
    """``n`` copies of ``command`` (a pipelined-only in-process run) on one GPU at once."""
    started = time.perf_counter()
    start_at = time.time() + min(60.0, budget_s / 3)  # all have loaded the model by then
    runs = []
    work = Path(tempfile.mkdtemp(prefix=f"finsent-x{n}-"))  # a loan returns only 8 files
    for i in range(n):
        folder = work / f"p{i + 1}"
        argv = [*command, "--pipelined-only", "--start-at", f"{start_at:.3f}", "--out", str(folder)]
        log = (work / f"p{i + 1}.log").open("w")
        runs.append((folder, log, subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT)))  # fmt: skip
    status = "ok"
    for _, log, proc in runs:
        left = budget_s - (time.perf_counter() - started)
        try:
            if proc.wait(timeout=max(1.0, left)) != 0:
                status = f"failed (exit {proc.returncode})"
        except subprocess.TimeoutExpired:
            proc.kill()
            status = f"timed out after {budget_s:.0f} s"
        log.close()
    parts, tails = [], []
    for folder, log, _ in runs:
        path = folder / "gpu_pipeline_bench.json"
        if path.exists():
            parts.append(json.loads(path.read_text()))
        tails.append(Path(log.name).read_text()[-1500:])
    outcome: dict[str, Any] = {"status": status, "processes": n, "per_process": parts,
                               "elapsed_s": round(time.perf_counter() - started, 1)}  # fmt: skip
    if status != "ok":
        outcome["log_tails"] = tails
    if len(parts) == n:
        begin = min(p["pipelined_started_at"] for p in parts)
        end = max(p["pipelined_ended_at"] for p in parts)
        docs = sum(p["docs"] for p in parts)
        outcome["union_of_spans_s"] = round(end - begin, 3)
        outcome["aggregate_texts_per_s"] = round(docs / (end - begin), 1)
    print(f"[in_process_x{n}] {status}: {outcome.get('aggregate_texts_per_s')} texts/s", flush=True)
    return outcome


def broker_ready(env: dict[str, str]) -> tuple[bool, str]:
    """Whether a broker and Redis answer, starting the local stack if they do not."""
    probe = [*FINSENT, "stack", "status"]
    try:
        done = subprocess.run(
            probe, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return False, "finsent stack status did not answer in 30 s"
    if done.returncode == 0:
        return True, "stack already up"
    missing = [tool for tool in ("java", "redis-server") if shutil.which(tool) is None]
    if missing:  # a GPU loan's machine: nothing can be installed there
        return False, f"no broker answers and {' and '.join(missing)} not installed here"
    up = subprocess.run(
        [*FINSENT, "stack", "up"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    if up.returncode == 0:
        return True, "started with finsent stack up"
    return False, ("finsent stack up failed: " + (up.stdout + up.stderr)[-500:]).strip()


def last_json(text: str) -> Any:
    """The last line of ``text`` that parses as a JSON object (the phase's result)."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    parser.add_argument("--budget-s", type=float, default=450.0, help="whole suite")
    parser.add_argument("--docs", type=int, default=200_000, help="in-process documents")
    parser.add_argument("--broker-docs", type=int, default=60_000)
    parser.add_argument("--processes", type=int, default=4, help="for in_process_xN")
    parser.add_argument("--process-docs", type=int, default=300_000, help="each, in_process_xN")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model, ~1 minute")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    model = REPO_ROOT / "models" / "finsent-minilm"
    device, docs, broker_docs = args.device, args.docs, args.broker_docs
    process_docs, sizes, micro, seconds = args.process_docs, "1024,4096,16384", "64,1024,4096", 2.0
    max_count, budgets = 1024, (150.0, 120.0, 130.0, 170.0)
    if args.dry_run:
        from inference.model.classifier import Classifier

        model = Path(tempfile.mkdtemp(prefix="finsent-tiny-"))
        Classifier.random_tiny(seed=7).save(model)
        device, docs, broker_docs, sizes, micro, seconds = "cpu", 2000, 300, "64,256", "16,64", 0.3
        process_docs, max_count, budgets = 1000, 128, (60.0, 60.0, 60.0, 300.0)
    begun = time.perf_counter()
    precision = "fp32" if device == "cpu" else "bf16"
    result: dict[str, Any] = {"device": device, "dry_run": args.dry_run, "phases": {}}
    target = args.out / "gpu_suite.json"
    in_process = [PYTHON, "benchmarks/gpu_pipeline_bench.py", "--model", str(model),
                  "--device", device, "--precision", precision,
                  "--max-count", str(max_count), "--micro-batch", str(max_count)]  # fmt: skip
    plans = [
        ("model", [PYTHON, "benchmarks/gpu_serving_bench.py", "--model", str(model),
                   "--device", device, "--precision", precision, "--batch-sizes", sizes,
                   "--micro-batches", micro, "--seconds", str(seconds),
                   "--budget-s", str(budgets[0] * 0.7), "--out", str(args.out)]),
        ("in_process", [*in_process, "--docs", str(docs), "--out", str(args.out)]),
        (f"in_process_x{args.processes}", [*in_process, "--docs", str(process_docs)]),
        ("broker", [*FINSENT, "bench", "pipeline", "--json", "--model", str(model),
                    "--device", device, "--precision", precision,
                    "--documents", str(broker_docs), "--max-count", str(max_count),
                    "--max-tokens", str(max_count * 64),
                    "--model-seconds", "4" if args.dry_run else "8",
                    "--latency-seconds", "5" if args.dry_run else "10"]),
    ]  # fmt: skip
    for (name, command), budget in zip(plans, budgets, strict=True):
        left = args.budget_s - (time.perf_counter() - begun)
        if left < 20:
            result["phases"][name] = {"status": f"skipped: suite budget spent ({left:.0f} s left)"}
            continue
        if name == "broker":
            ready, why = broker_ready(env)
            if not ready:
                result["phases"][name] = {"status": f"skipped: {why}"}
                continue
        if name.startswith("in_process_x"):
            outcome = processes_phase(args.processes, command, min(budget, left), env)
            result["phases"][name] = outcome
            save(target, result, begun)
            continue
        outcome = phase(name, command, min(budget, left), env)
        if name == "broker":
            outcome["result"] = last_json(outcome["stdout"])
        del outcome["stdout"]
        result["phases"][name] = outcome
        save(target, result, begun)
    save(target, result, begun)
    print(f"wrote {target} after {result['elapsed_s']} s")


if __name__ == "__main__":
    main()
