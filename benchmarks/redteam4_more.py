"""Round four's system files, Python API calls and large systems (see redteam4.py)."""

from __future__ import annotations

import json

from redteam3_cases import Case, dump
from redteam4_cases import SYSTEM_BASE
from redteam4_inputs import CASE

# --- system files -------------------------------------------------------------------------


def system_file_cases() -> list[Case]:
    cases = []

    def add(name, interconnect=None, **top):
        data = {**SYSTEM_BASE, **top}
        if interconnect is not None:
            data["interconnect"] = interconnect
        cases.append(
            Case(
                f"sysfile-{name}",
                "sysfile",
                ["system", "llama-2-7b", "--system", "s.yaml"],
                {"s.yaml": dump(data)},
                ["s.yaml"],
            )
        )

    ring = SYSTEM_BASE["interconnect"]
    switch = {**ring, "topology": "switch"}
    for value in (7, ["ring"], "RING", "tree", "nvls", None, "", {"a": 1}):
        add(f"algorithm-{str(value)[:8]}", {**ring, "algorithm": value})
        add(f"switch-algorithm-{str(value)[:8]}", {**switch, "algorithm": value})
    for value in (
        1,
        1.0,
        -0.1,
        "50%",
        float("nan"),
        float("inf"),
        "abc",
        10**400,
        0.999999,
        True,
        [0.1],
    ):
        add(f"overlap-{str(value)[:8]}", {**switch, "overlap_share": value})
    torus = {**ring, "topology": "torus2d"}
    for value in (
        None,
        [2],
        [2, 2, 2],
        [0, 4],
        [-2, -2],
        [2, "a"],
        [1000, 1000],
        "2x2",
        [2.5, 1.6],
        [10**6, 10**6],
        [10**400, 1],
        {"x": 2, "y": 2},
        [True, 4],
    ):
        extra = {} if value is None else {"dims": value}
        add(f"torus-dims-{str(value)[:12]}", {**torus, **extra})
    add("torus-million-chips", {**torus, "dims": [1000, 1000]}, chips=10**6)
    add("torus-big-chips", {**torus, "dims": [10**6, 10**6]}, chips=10**12)
    hier = {
        **ring,
        "topology": "hierarchical",
        "node_chips": 2,
        "inter_node": {"bandwidth": "1 GB/s", "latency": "1 us"},
    }
    add("hier-valid", hier)
    for value in (0, 3, 10**9, "four", -2, 2.5, None, 10**400):
        add(f"hier-node-chips-{str(value)[:8]}", {**hier, "node_chips": value})
    for value in (
        None,
        {},
        "fast",
        [1],
        {"bandwidth": "0 GB/s"},
        {"bandwidth": "-1 GB/s"},
        {"bandwidth": "1 GB/s", "latency": "1e20 s"},
        {"bandwidth": "1 GB/s", "efficiency": 2},
        {"bandwidth": "1 GB/s", "efficiency": 0},
        {"bandwidth": "1e400 GB/s"},
        {"bandwidth": "1 GB/s", "extra": 1},
    ):
        add(f"hier-inter-node-{str(value)[:14]}", {**hier, "inter_node": value})
    add("ring-with-inter-node", {**ring, "inter_node": hier["inter_node"]})
    add("switch-with-node-chips", {**switch, "node_chips": 2})
    add("ring-with-dims", {**ring, "dims": [2, 2]})
    add("hier-tree", {**hier, "algorithm": "tree"})
    add("hier-nvls", {**hier, "algorithm": "nvls"})
    add("ring-million-chips", ring, chips=10**6)
    add("chips-zero", ring, chips=0)
    add("hier-node-chips-one-node", {**hier, "node_chips": 4})
    add("hier-overlap", {**hier, "overlap_share": 0.5})
    add("chip-name-5000", ring, chip="x" * 5000)
    add("chip-name-300", ring, chip="x" * 300)
    return cases


# --- second batch: the Python API of today's features, and large systems -----------------


def api_cases() -> list[Case]:
    sys_ = "__import__('hardware.system').system.load_system('toy-4')"
    chip = "hardware.load_chip('h100-sxm')"
    serve = "from sim.studies.serve import serve, serve_rates, read_trace\n"
    run = "from sim.system.run import run_system\n"
    plans = "from sim.system.sweep import parse_plans, compare_plans\n"
    snippets = {
        "run-system-model-list": f"{run}run_system(['x'], {sys_})",
        "run-system-model-none": f"{run}run_system(None, {sys_})",
        "run-system-system-str": f"{run}run_system('llama-2-7b', 'toy-4')",
        "run-system-tp-str": f"{run}run_system('llama-2-7b', {sys_}, tp='2')",
        "run-system-pp-float": f"{run}run_system('llama-2-7b', {sys_}, pp=0.5)",
        "run-system-pp-none": f"{run}run_system('llama-2-7b', {sys_}, pp=None)",
        "run-system-mb-float": f"{run}run_system('llama-2-7b', {sys_}, micro_batches=2.5)",
        "run-system-schedule-none": f"{run}run_system('llama-2-7b', {sys_}, schedule=None)",
        "run-system-schedule-list": f"{run}run_system('llama-2-7b', {sys_}, schedule=['gpipe'])",
        "run-system-batch-str": f"{run}run_system('llama-2-7b', {sys_}, batch='1')",
        "run-system-batch-huge": f"{run}run_system('llama-2-7b', {sys_}, batch=10**30)",
        "run-system-dtype-int": f"{run}run_system('llama-2-7b', {sys_}, dtype=5)",
        "run-system-dtype-list": f"{run}run_system('llama-2-7b', {sys_}, dtype=['fp16'])",
        "run-system-algorithm-int": f"{run}run_system('llama-2-7b', {sys_}, algorithm=5)",
        "run-system-algorithm-list": f"{run}run_system('llama-2-7b', {sys_}, algorithm=['ring'])",
        "run-system-overlap-str": f"{run}run_system('llama-2-7b', {sys_}, overlap_comm='no')",
        "run-system-seq-float": f"{run}run_system('llama-2-7b', {sys_}, seq=1.5)",
        "run-system-ep-bool": f"{run}run_system('llama-2-7b', {sys_}, ep=True)",
        "run-system-dp-neg": f"{run}run_system('llama-2-7b', {sys_}, dp=-1)",
        "parse-plans-none": f"{plans}parse_plans(None)",
        "parse-plans-int": f"{plans}parse_plans(5)",
        "parse-plans-list": f"{plans}parse_plans(['tp4'])",
        "compare-plans-str": f"{plans}compare_plans('llama-2-7b', {sys_}, 'tp4')",
        "compare-plans-bad-key": f"{plans}compare_plans('llama-2-7b', {sys_}, [{{'zz': 1}}])",
        "compare-plans-bad-value": f"{plans}compare_plans('llama-2-7b', {sys_}, [{{'tp': 'x'}}])",
        "compare-plans-list-of-str": f"{plans}compare_plans('llama-2-7b', {sys_}, ['tp4'])",
        "compare-plans-empty": f"{plans}compare_plans('llama-2-7b', {sys_}, [])",
        "compare-plans-model-list": f"{plans}compare_plans(['x'], {sys_}, None)",
        "serve-rate-str": f"{serve}serve('llama-2-7b', {chip}, '1', 1)",
        "serve-rates-int": f"{serve}serve_rates('llama-2-7b', {chip}, 5, 1)",
        "serve-rates-none": f"{serve}serve_rates('llama-2-7b', {chip}, None, 1)",
        "serve-lengths-str": f"{serve}serve('llama-2-7b', {chip}, 1, 1, lengths=[('a', 1)])",
        "serve-lengths-short": f"{serve}serve('llama-2-7b', {chip}, 1, 1, lengths=[(1,)])",
        "serve-lengths-neg": f"{serve}serve('llama-2-7b', {chip}, 1, 1, lengths=[(-1, 5)])",
        "serve-lengths-empty": f"{serve}serve('llama-2-7b', {chip}, 1, 1, lengths=[])",
        "serve-lengths-int": f"{serve}serve('llama-2-7b', {chip}, 1, 1, lengths=5)",
        "serve-lengths-huge": f"{serve}serve('llama-2-7b', {chip}, 1, 1, lengths=[(10**30, 1)])",
        "serve-route-list": f"{serve}serve('llama-2-7b', {sys_}, 1, 1, route=['x'])",
        "serve-tp-str": f"{serve}serve('llama-2-7b', {sys_}, 1, 1, tp='2')",
        "serve-slo-str": f"{serve}serve('llama-2-7b', {chip}, 1, 1, slo_ttft_s='1')",
        "serve-slo-neg": f"{serve}serve('llama-2-7b', {chip}, 1, 1, slo_ttft_s=-1.0)",
        "serve-slo-nan": f"{serve}serve('llama-2-7b', {chip}, 1, 1, slo_tpot_s=float('nan'))",
        "serve-dtype-int": f"{serve}serve('llama-2-7b', {chip}, 1, 1, dtype=3)",
        "serve-dtype-bad": f"{serve}serve('llama-2-7b', {chip}, 1, 1, dtype='int3')",
        "serve-prompt-str": f"{serve}serve('llama-2-7b', {chip}, 1, 1, prompt='5')",
        "serve-tokens-zero": f"{serve}serve('llama-2-7b', {chip}, 1, 1, tokens=0)",
        "serve-model-list": f"{serve}serve(['x'], {chip}, 1, 1)",
        "serve-model-dict": f"{serve}serve({{}}, {chip}, 1, 1)",
        "serve-chunk-float": f"{serve}serve('llama-2-7b', {chip}, 1, 1, chunk=2.5)",
        "read-trace-none": f"{serve}read_trace(None)",
        "read-trace-int": f"{serve}read_trace(5)",
        "load-system-int": "from hardware.system import load_system\nload_system(5)",
        "load-system-none": "from hardware.system import load_system\nload_system(None)",
        "load-system-dict": "from hardware.system import load_system\nload_system({'name': 'x'})",
        "load-cases-int": "from sim.studies.accuracy import load_cases\nload_cases(5)",
        "load-cases-dir": "from sim.studies.accuracy import load_cases\nload_cases('.')",
        "read-measurements-none": "import sim.studies.measurements as m\nm.read_measurements(None)",
        "ort-dict": "import sim.studies.measurements as m\nm.read_onnxruntime_profile({1: 1})",
        "chrome-trace-none": "import sim.studies.measurements as m\nm.read_chrome_trace(None)",
        "lean-none": "from workloads.onnx.read import read_model\nread_model(None)",
        "lean-int": "from workloads.onnx.read import read_model\nread_model(5)",
        "onnx-load-bytes": "workloads.load(b'x.onnx')",
    }
    cases = []
    for name, body in snippets.items():
        code = (
            "import sys\nimport hardware, workloads, sim\nfrom hardware.errors import InputError\n"
            "try:\n"
            + "".join(f"    {line}\n" for line in body.splitlines())
            + "except InputError as err:\n    print('InputError:', err)\n    sys.exit(2)\n"
        )
        cases.append(Case(f"api-{name}", "api", ["--python", code, name]))
    return cases


def big_cases() -> list[Case]:
    cases = []

    def add(name, args, system=None, files=None):
        files = dict(files or {})
        if system is not None:
            files["s.yaml"] = dump(system)
        cases.append(Case(f"big-{name}", "big", args, files, list(files)))

    switch = {**SYSTEM_BASE, "interconnect": {**SYSTEM_BASE["interconnect"], "topology": "switch"}}
    million = {**switch, "chips": 10**6}
    add("sweep-million-chips", ["system", "llama-2-7b", "--system", "s.yaml", "--sweep"], million)
    add(
        "plans-million-tp",
        ["system", "llama-2-7b", "--system", "s.yaml", "--plans", "tp1000000"],
        million,
    )
    add("pp-million", ["system", "llama-2-7b", "--system", "s.yaml", "--pp", "1000000"], million)
    add("dp-million", ["system", "llama-2-7b", "--system", "s.yaml", "--tp", "1"], million)
    add(
        "serve-million-replicas",
        [
            "serve",
            "llama-2-7b",
            "--system",
            "s.yaml",
            "--tp",
            "1",
            "--rate",
            "1",
            "--duration",
            "1s",
        ],
        million,
    )
    add(
        "serve-million-replicas-ll",
        [
            "serve",
            "llama-2-7b",
            "--system",
            "s.yaml",
            "--tp",
            "1",
            "--rate",
            "1000",
            "--duration",
            "1s",
            "--route",
            "least-loaded",
        ],
        million,
    )
    add(
        "serve-million-tp",
        ["serve", "llama-2-7b", "--system", "s.yaml", "--rate", "1", "--duration", "1s"],
        million,
    )
    torus = {
        **SYSTEM_BASE,
        "chips": 10**6,
        "interconnect": {
            **SYSTEM_BASE["interconnect"],
            "topology": "torus2d",
            "dims": [1000, 1000],
        },
    }
    add(
        "torus-million-plans",
        ["system", "llama-2-7b", "--system", "s.yaml", "--plans", "tp1000000"],
        torus,
    )
    add("torus-million-sweep", ["system", "llama-2-7b", "--system", "s.yaml", "--sweep"], torus)
    hier = {
        **SYSTEM_BASE,
        "chips": 10**6,
        "interconnect": {
            **SYSTEM_BASE["interconnect"],
            "topology": "hierarchical",
            "node_chips": 1,
            "inter_node": {"bandwidth": "1 GB/s", "latency": "1 us"},
            "algorithm": "tree",
        },
    }
    add(
        "hier-million-nodes",
        ["system", "llama-2-7b", "--system", "s.yaml", "--tp", "1000000"],
        hier,
    )
    add("hier-million-sweep", ["system", "llama-2-7b", "--system", "s.yaml", "--sweep"], hier)
    add(
        "hier-trace",
        ["system", "llama-2-7b", "--system", "hgx-h100-x2", "--tp", "16", "--trace", "t.json"],
    )
    add(
        "hier-trace-pp",
        [
            "system",
            "llama-2-70b",
            "--system",
            "hgx-h100-x2",
            "--pp",
            "8",
            "--micro-batches",
            "64",
            "--batch",
            "64",
            "--trace",
            "t.json",
        ],
    )
    add(
        "mb-huge-trace",
        [
            "system",
            "llama-2-7b",
            "--system",
            "toy-4",
            "--pp",
            "4",
            "--batch",
            "100000",
            "--micro-batches",
            "100000",
            "--trace",
            "t.json",
        ],
    )
    add(
        "mb-huge-1f1b",
        [
            "system",
            "llama-2-7b",
            "--system",
            "toy-4",
            "--pp",
            "4",
            "--batch",
            "1000000",
            "--micro-batches",
            "1000000",
            "--schedule",
            "1f1b",
        ],
    )
    add(
        "serve-tp-chunk-block",
        [
            "serve",
            "llama-2-7b",
            "--system",
            "hgx-h100-x2",
            "--tp",
            "2",
            "--chunk",
            "1",
            "--block",
            "1",
            "--rate",
            "50",
            "--duration",
            "2s",
        ],
    )
    add(
        "serve-chunk-1-long",
        [
            "serve",
            "llama-2-7b",
            "-c",
            "h100-sxm",
            "--chunk",
            "1",
            "--prompt",
            "4000",
            "--rate",
            "20",
            "--duration",
            "5s",
        ],
    )
    add(
        "serve-block-1-pressure",
        ["serve", "llama-2-7b", "-c", "toy", "--block", "1", "--rate", "100", "--duration", "5s"],
    )
    add(
        "serve-rates-64",
        [
            "serve",
            "llama-2-7b",
            "-c",
            "h100-sxm",
            "--rates",
            ",".join(str(r) for r in range(1, 65)),
            "--duration",
            "5s",
        ],
    )
    add(
        "serve-rates-1000",
        [
            "serve",
            "llama-2-7b",
            "-c",
            "h100-sxm",
            "--rates",
            ",".join(str(r) for r in range(1, 1001)),
            "--duration",
            "1s",
        ],
    )
    add(
        "serve-long-duration",
        ["serve", "llama-2-7b", "-c", "h100-sxm", "--rate", "100", "--duration", "1h"],
    )
    add(
        "serve-trace-long-prompts",
        [
            "serve",
            "llama-2-7b",
            "-c",
            "h100-sxm",
            "--rate",
            "5",
            "--duration",
            "5s",
            "--trace-file",
            "t.csv",
        ],
        files={
            "t.csv": "prompt,tokens\n"
            + "".join(f"{1 + i * 37 % 4000},{1 + i * 13 % 500}\n" for i in range(5000))
        },
    )
    add(
        "serve-trace-beyond-context",
        [
            "serve",
            "llama-2-7b",
            "-c",
            "h100-sxm",
            "--rate",
            "5",
            "--duration",
            "5s",
            "--trace-file",
            "t.csv",
        ],
        files={"t.csv": "prompt,tokens\n4000,4000\n"},
    )
    add(
        "accuracy-many-generate",
        ["accuracy", "--cases", "c.yaml"],
        files={
            "c.yaml": json.dumps(
                {
                    "cases": [
                        {
                            **CASE,
                            "id": f"g{i}",
                            "metric": "ttft_s",
                            "workload": {
                                "generate": "llama-2-70b",
                                "prompt": 4000,
                                "tokens": 4000,
                                "batch": 256,
                                "dtype": "fp16",
                            },
                            "chip": "h100-sxm",
                        }
                        for i in range(50)
                    ]
                }
            )
        },
    )
    return cases
