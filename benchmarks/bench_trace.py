"""Perfetto protobuf vs Chrome JSON traces: size and write time. `python benchmarks/bench_trace.py`.

Simulates a few large runs (a BERT-large stream, a Llama-2-7B generation's prefill and
decode step) once, then times `chrome_trace` + `json.dumps` + write against
`perfetto_trace` + write, best of 3, and prints each file's size.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import hardware
import sim
import workloads
from sim.render.chrome_trace import write_chrome_trace
from sim.render.perfetto_trace import write_perfetto_trace
from sim.studies.llm import generate

REPEATS = 3


def best_of(write, path: Path) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        write(path)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    chip = hardware.load_chip("h100-sxm")
    bert = sim.simulate(workloads.build("bert-large", batch=8), chip, batches=16)
    llama = generate("llama-2-7b", chip, prompt=2048, tokens=128)
    cases = {
        "bert-large, 16 batches": bert,
        "llama-2-7b generate (prefill + decode step)": [
            ("prefill", llama.prefill),
            ("decode step", llama.decode_step),
        ],
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, result in cases.items():
            json_path = Path(folder) / "t.json"
            proto_path = Path(folder) / "t.perfetto-trace"
            json_s = best_of(lambda p, r=result: write_chrome_trace(r, p), json_path)
            proto_s = best_of(lambda p, r=result: write_perfetto_trace(r, p), proto_path)
            events = len(json.loads(json_path.read_text())["traceEvents"])
            json_mb = json_path.stat().st_size / 1e6
            proto_mb = proto_path.stat().st_size / 1e6
            print(
                f"{name}: {events:,} JSON events; JSON {json_mb:.2f} MB in {json_s:.3f} s, "
                f"protobuf {proto_mb:.2f} MB in {proto_s:.3f} s "
                f"({proto_mb / json_mb:.0%} of the size, {proto_s / json_s:.2f}x the time)"
            )


if __name__ == "__main__":
    main()
