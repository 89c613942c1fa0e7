"""How fast is a long LLM generation to simulate? `python benchmarks/bench_llm.py`.

Llama-2-70B on one h100-sxm: a prefill of 2048 tokens, then 1024 decode steps (KV cache
2048 -> 3071 tokens), at batch 1, with fp16 weights and with int8 weights. Prints the
wall time of each `sim.studies.llm.generate` and what it found.

One H100 has 80 GB; Llama-2-70B's 69.0e9 parameters take 138 GB in fp16, so the fp16
run does not fit one chip (it is simulated anyway: multi-chip is out of scope, and the
result says so); with int8 weights (69 GB, embeddings kept in fp16) plus a 1 GB KV cache
it fits. Target (issue 9): each run < 10 s of wall time.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

import hardware
from hardware.quantity import format_si
from sim.render.generation import render_generation
from sim.studies.llm import generate

PROMPT, TOKENS = 2048, 1024
TARGET_S = 10.0


def run(chip: hardware.Chip, weight_dtype: str, render: bool) -> float:
    start = time.perf_counter()
    r = generate("llama-2-70b", chip, prompt=PROMPT, tokens=TOKENS, weight_dtype=weight_dtype)
    wall = time.perf_counter() - start
    memory = r.weight_bytes + r.kv_cache_bytes
    fits = "fits" if r.fits_in_memory else "does NOT fit one chip (simulated anyway)"
    ranked = ", ".join(f"{k} {r.loss_share(k):.0%}" for k, _ in r.ranked_losses()[:3])
    print(f"llama-2-70b, {weight_dtype} weights, prefill {PROMPT} + decode {TOKENS} on {r.chip}")
    print(
        f"  memory     weights {format_si(r.weight_bytes, 'B')} + KV cache "
        f"{format_si(r.kv_cache_bytes, 'B')} = {format_si(memory, 'B')} of "
        f"{format_si(r.dram_capacity_bytes, 'B')}: {fits}"
    )
    print(f"  TTFT       {format_si(r.ttft_s, 's')}")
    print(
        f"  per token  first {format_si(r.per_token.first_s, 's')}, median "
        f"{format_si(r.per_token.median_s, 's')}, last {format_si(r.per_token.last_s, 's')}; "
        f"{r.tokens_per_s:.1f} tokens/s"
    )
    print(
        f"  total      {format_si(r.total_s, 's')} simulated, "
        f"{r.delivered_ops_per_s / 1e12:.2f} TOP/s = {r.efficiency:.2%} of peak; "
        f"top losses {ranked}"
    )
    print(f"  cost       {len(r.samples)} of {TOKENS} decode steps simulated, {r.events:,} events")
    verdict = "ok" if wall < TARGET_S else "OVER TARGET"
    print(f"  wall time  {wall:.2f} s (target < {TARGET_S:.0f} s: {verdict})")
    if render:
        Console().print(render_generation(r))
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--render", action="store_true", help="print the full rich summary")
    args = parser.parse_args()
    chip = hardware.load_chip("h100-sxm")
    for weight_dtype in ("fp16", "int8"):
        run(chip, weight_dtype, args.render)


if __name__ == "__main__":
    main()
