"""How fast is serving a 70B model on 8 chips to simulate? `python benchmarks/bench_serve.py`.

Llama-2-70B (fp16) on hgx-h100, tensor parallel over all 8 H100s: Poisson arrivals at
10 requests/s for 105 s (1,000+ requests with the default seed) of 512 prompt tokens and
128 output tokens, max batch 64; once with the default policy (prefill first, KV
reserved whole) and once with chunked prefill (512 tokens) and paged KV (blocks of 16).
Each run starts from an empty step cache, so its wall time includes simulating every
step shape it needs. The CPU time is printed too: on a shared machine the wall time
also counts waiting for a core. Run it from the repository root with PYTHONPATH=.
Target (issue 19): each run < 30 s of wall time on 2 cores.
"""

from __future__ import annotations

import argparse
import time

from hardware.system import load_system
from sim.studies.serve import serve

TARGET_S = 30.0
POLICIES = {"prefill first, whole KV": {}, "chunked 512, paged 16": {"chunk": 512, "block": 16}}


def run(name: str, rate: float, duration: float, policy: dict) -> float:
    system = load_system("hgx-h100")
    start, cpu = time.perf_counter(), time.process_time()
    r = serve(
        "llama-2-70b", system, rate, duration, prompt=512, tokens=128, max_batch=64,
        slo_ttft_s=1.0, slo_tpot_s=0.05, tp=8, **policy,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"llama-2-70b on hgx-h100 TP 8, {name}: {r.requests:,} requests at {rate:g}/s")
    print(
        f"  TTFT p50 {r.ttft_s.p50 * 1e3:.1f} ms p99 {r.ttft_s.p99 * 1e3:.1f} ms; "
        f"TPOT p50 {r.tpot_s.p50 * 1e3:.2f} ms p99 {r.tpot_s.p99 * 1e3:.2f} ms; "
        f"{r.tokens_per_s:,.0f} tokens/s; goodput {r.goodput_requests_per_s:.2f} requests/s "
        f"({r.slo_attainment:.1%} meet TTFT <= 1 s and TPOT <= 50 ms)"
    )
    print(
        f"  {r.prefills:,} prefills, {r.decode_steps:,} decode steps, {r.mixed_steps:,} mixed, "
        f"{r.preemptions} preemptions, {r.simulated_shapes} shapes simulated"
    )
    verdict = "ok" if wall < TARGET_S else "OVER TARGET"
    print(
        f"  wall time  {wall:.2f} s, CPU time {cpu:.2f} s (target < {TARGET_S:.0f} s: "
        f"{verdict}; wall above CPU is time waiting for a shared core)"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=105.0)
    args = parser.parse_args()
    for name, policy in POLICIES.items():
        run(name, args.rate, args.duration, policy)


if __name__ == "__main__":
    main()
