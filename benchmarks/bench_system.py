"""How fast are parallelism plans to simulate, and what do they find?
`python benchmarks/bench_system.py`.

Llama-2-70B on an HGX H100 node (8 chips), batch 8, prompts of 512 tokens: TP8, TP4 x PP2,
TP2 x PP4 and PP8 (8 micro-batches, GPipe) and TP4 x 2 replicas; Mixtral-8x7B TP8 vs EP8;
Llama-2-70B over two nodes (TP16, TP8 x PP2). Prints the wall time of each
`run_system` and its prefill and decode latency, tokens/s (one pass and back to back)
and the communication and bubble shares. No target: a plan simulates a handful of
distinct stage graphs, so each run is expected to take a few seconds on 2 cores.
"""

from __future__ import annotations

import time

from hardware.system import load_system
from sim.system.run import run_system

PLANS = [
    ("llama-2-70b", "hgx-h100", "TP8", {"tp": 8}),
    ("llama-2-70b", "hgx-h100", "TP4 x PP2, m8", {"tp": 4, "pp": 2, "micro_batches": 8}),
    ("llama-2-70b", "hgx-h100", "TP2 x PP4, m8", {"tp": 2, "pp": 4, "micro_batches": 8}),
    ("llama-2-70b", "hgx-h100", "PP8, m8", {"tp": 1, "pp": 8, "micro_batches": 8}),
    ("llama-2-70b", "hgx-h100", "TP4 x 2 replicas", {"tp": 4}),
    ("mixtral-8x7b", "hgx-h100", "TP8", {"tp": 8}),
    ("mixtral-8x7b", "hgx-h100", "EP8", {"tp": 1, "ep": 8}),
    ("llama-2-70b", "hgx-h100-x2", "TP16", {"tp": 16}),
    ("llama-2-70b", "hgx-h100-x2", "TP8 x PP2, m8", {"tp": 8, "pp": 2, "micro_batches": 8}),
]


def main() -> None:
    systems = {}
    for model, system_name, label, plan in PLANS:
        system = systems.setdefault(system_name, load_system(system_name))
        start = time.perf_counter()
        result = run_system(model, system, batch=8, seq=512, **plan)
        wall = time.perf_counter() - start
        print(f"{model} on {system_name}, {label}: simulated in {wall:.2f} s")
        for phase in (result.prefill, result.decode):
            print(
                f"  {phase.name:7} {phase.latency_s * 1e3:8.2f} ms, "
                f"{phase.tokens_per_s:10,.1f} tokens/s ({phase.steady_tokens_per_s:10,.1f} "
                f"back to back), communication {phase.communication_share:5.1%}, "
                f"bubble {phase.bubble_share:5.1%}, useful {phase.efficiency:5.1%}"
            )


if __name__ == "__main__":
    main()
