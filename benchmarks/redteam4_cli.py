"""Round four's command-line cases: serve, system, traces and Parquet (see redteam4.py)."""

from __future__ import annotations

import os
from pathlib import Path

from redteam3_cases import Case, dump
from redteam4_cases import SYSTEM_BASE

# --- command lines --------------------------------------------------------------------------


def cli_cases() -> list[Case]:
    cases: list[Case] = []

    def add(category, name, args, files=None, protect=()):
        files = files or {}
        cases.append(Case(f"{category}-{name}", category, args, files, list(protect or files)))

    serve = ["serve", "llama-2-7b", "--duration", "2s"]
    on_sys = [*serve, "--system", "toy-4", "--rate", "1"]
    for tp in ("0", "-1", "3", "5", "8", str(10**20)):
        add("serve", f"tp-{tp}", [*on_sys, "--tp", tp])
    add("serve", "tp-without-system", [*serve, "--rate", "1", "--tp", "2", "-c", "toy"])
    add("serve", "system-and-chip", [*on_sys, "-c", "toy"])
    add("serve", "system-missing", [*serve, "--rate", "1", "--system", "no-such-sys"])
    add("serve", "system-is-chip", [*serve, "--rate", "1", "--system", "toy"])
    add(
        "serve",
        "system-fifo",
        [*serve, "--rate", "1", "--system", "s.yaml"],
        {"s.yaml": lambda p: os.mkfifo(p)},
    )
    for route in ("bogus", "", "ROUND-ROBIN", "least_loaded"):
        add("serve", f"route-{route or 'empty'}", [*on_sys, "--route", route])
    for chunk in ("0", "-1", "1", str(10**9), str(10**30)):
        add("serve", f"chunk-{chunk}", [*on_sys, "--chunk", chunk])
    for block in ("0", "-1", "1", str(10**9)):
        add("serve", f"block-{block}", [*on_sys, "--block", block])
    for rates in (
        "",
        ",",
        "1,,2",
        "0",
        "-1",
        "nan",
        "inf",
        "1e308",
        "1e-300",
        "a,b",
        "1," * 5000,
        "1e400",
        "0x10",
        "1_000",
        "1;2",
    ):
        add("serve", f"rates-{rates[:12] or 'empty'}", [*serve, "-c", "h100-sxm", "--rates", rates])
    add("serve", "rate-and-rates", [*serve, "-c", "h100-sxm", "--rate", "1", "--rates", "1,2"])
    add(
        "serve",
        "million-requests",
        ["serve", "llama-2-7b", "--duration", "1s", "-c", "h100-sxm", "--rate", "1e6"],
    )
    add(
        "serve",
        "duration-1e9",
        ["serve", "llama-2-7b", "--duration", "1e9", "-c", "h100-sxm", "--rate", "1"],
    )
    for duration in ("0", "-1", "nan", "1e400", "1 fortnight", "1e-300", "inf"):
        add(
            "serve",
            f"duration-{duration}",
            ["serve", "llama-2-7b", "--duration", duration, "-c", "toy", "--rate", "1"],
        )
    for name, text in (
        ("negative", "prompt,tokens\n-5,10\n"),
        ("zero", "prompt,tokens\n0,0\n"),
        ("huge", "prompt,tokens\n1000000000000,10\n"),
        ("float", "prompt,tokens\n1.5,2\n"),
        ("swapped", "tokens,prompt\n10,20\n"),
        ("header-only", "prompt,tokens\n"),
        ("missing-col", "prompt\n5\n"),
        ("short-row", "prompt,tokens\n5\n"),
        ("nul", "prompt,tokens\n5\x00,6\n"),
        ("stray-quote", 'prompt,tokens\n"5,6\n7,8\n'),
        ("bigfield", "prompt,tokens\n" + "1" * 200_000 + ",5\n"),
        ("digits-5000", "prompt,tokens\n" + "1" * 5000 + ",5\n"),
        ("many-rows", "prompt,tokens\n" + "16,4\n" * 300_000),
        ("bom", "\ufeffprompt,tokens\n5,6\n"),
        ("underscore", "prompt,tokens\n1_0,5\n"),
    ):
        add(
            "serve",
            f"trace-{name}",
            [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"],
            {"t.csv": text},
        )
    add(
        "serve",
        "trace-bad-utf8",
        [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"],
        {"t.csv": b"prompt,tokens\n\xff\xfe,5\n"},
    )
    add(
        "serve",
        "trace-fifo",
        [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"],
        {"t.csv": lambda p: os.mkfifo(p)},
    )
    add(
        "serve",
        "trace-dir",
        [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"],
        {"t.csv": lambda p: p.mkdir()},
    )
    add(
        "serve",
        "trace-dev-zero",
        [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "/dev/zero"],
    )
    add(
        "serve",
        "json-is-trace",
        [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv", "--json", "t.csv"],
        {"t.csv": "prompt,tokens\n5,6\n"},
    )
    for slo in ("-1ms", "nan", "0", "1e400 s", "abc"):
        add("serve", f"slo-{slo}", [*serve, "-c", "h100-sxm", "--rate", "1", "--slo-ttft", slo])
    add("serve", "max-batch-0", [*serve, "-c", "h100-sxm", "--rate", "1", "--max-batch", "0"])
    add(
        "serve",
        "max-batch-huge",
        [*serve, "-c", "h100-sxm", "--rate", "1", "--max-batch", str(10**12)],
    )
    add("serve", "prompt-huge", [*serve, "-c", "h100-sxm", "--rate", "1", "--prompt", str(10**12)])
    add("serve", "tokens-huge", [*serve, "-c", "h100-sxm", "--rate", "1", "--tokens", str(10**9)])

    system = ["system", "llama-2-7b", "--system", "toy-4"]
    for flag, values in (
        ("--pp", ("0", "-1", "3", "64", str(10**6))),
        ("--dp", ("0", "-1", "3", str(10**9))),
        ("--ep", ("0", "2", "-1")),
        ("--micro-batches", ("0", "-1", "3", str(10**9))),
        ("--tp", ("0", "3", str(10**20))),
        ("--schedule", ("foo", "", "1F1B", "interleaved")),
        ("--algorithm", ("foo", "tree", "nvls", "", "RING")),
        ("--seq", ("0", str(10**12))),
        ("--batch", ("0", str(10**12))),
        ("--dtype", ("int3", "")),
    ):
        for value in values:
            add("system", f"{flag[2:]}-{value[:10] or 'empty'}", [*system, flag, value])
    add(
        "system",
        "micro-batches-huge-batch",
        [*system, "--batch", str(10**9), "--micro-batches", str(10**9)],
    )
    add(
        "system",
        "micro-batches-million",
        [*system, "--batch", str(10**6), "--micro-batches", str(10**6), "--pp", "2"],
    )
    for plans in (
        "",
        "tp",
        "tp0",
        "tp-1",
        "tp4xtp2",
        "x",
        "tp4,,",
        "tp" + "9" * 30,
        "tp2xpp2xep2xdp2",
        "pp3",
        "foo",
        "tp1e3",
        "tp" + "9" * 5000,
        ",".join(["tp4"] * 5000),
        "tp4 x pp1",
        "TP4",
        "tp2xpp2,tp2xpp2",
        "dp4",
        "ep4",
        "tp½",
        "tp٤",
    ):
        add("system", f"plans-{plans[:14] or 'empty'}", [*system, "--plans", plans])
    add("system", "plans-and-sweep", [*system, "--plans", "tp4", "--sweep"])
    add("system", "plans-and-tp", [*system, "--plans", "tp4", "--tp", "2"])
    add("system", "sweep-big", ["system", "llama-2-70b", "--system", "hgx-h100-x2", "--sweep"])
    add(
        "system",
        "trace-is-system",
        ["system", "llama-2-7b", "--system", "s.yaml", "--trace", "s.yaml"],
        {"s.yaml": dump(SYSTEM_BASE)},
    )
    add(
        "system",
        "json-is-system",
        ["system", "llama-2-7b", "--system", "s.yaml", "--json", "s.yaml"],
        {"s.yaml": dump(SYSTEM_BASE)},
    )
    add("system", "trace-equals-json", [*system, "--trace", "o.json", "--json", "o.json"])
    add("system", "trace-perfetto", [*system, "--trace", "o.perfetto-trace"])
    add("system", "trace-pftrace", [*system, "--trace", "o.pftrace"])
    add("system", "trace-missing-dir", [*system, "--trace", "no/such/dir/o.json"])
    add("system", "trace-dir", [*system, "--trace", "d"], {"d": lambda p: p.mkdir()})
    add("system", "trace-existing", [*system, "--trace", "old.json"], {"old.json": '{"mine": 1}'})
    add("system", "trace-sweep", [*system, "--sweep", "--trace", "o.json"])
    add("system", "overlap-tp1", [*system, "--tp", "1", "--overlap-comm"])
    add(
        "system",
        "moe-ep-on-dense",
        ["system", "llama-2-7b", "--system", "toy-4", "--ep", "4", "--tp", "1"],
    )

    for value in (
        "chip=no-such-chip",
        "chip=5",
        "chips=1e400",
        "interconnect=3",
        "=",
        "interconnect.overlap_share=nan",
        "chip.memory.dram.bandwidth=1e400 TB/s",
        "interconnect.dims=[1000000,1000000]",
        f"chip={'x' * 5000}",
    ):
        add("system", f"set-{value[:24]}", [*system, "--set", value])
    long = "x" * 5000
    add("system", "long-onnx-name", ["run", f"{long}.onnx", "--chip", "toy", "-q"])
    add("system", "long-lut-space", ["lut", long, "--chip", "toy"])
    add("system", "long-validate-model", ["validate-model", "--chip", "toy", "-m", f"{long}.onnx"])
    run = ["run", "mlp", "--chip", "toy", "-q"]
    for name in ("o.perfetto-trace", "o.pftrace", "o.PFTRACE", ".pftrace"):
        add("trace", f"run-{name}", [*run, "--trace", name])
    add(
        "trace",
        "run-pftrace-is-chip",
        ["run", "mlp", "--chip", "c.yaml", "-q", "--trace", "c.yaml"],
        {"c.yaml": dump({"name": "x", "base": "toy", "hypothetical": True})},
    )
    add(
        "trace",
        "run-pftrace-existing",
        [*run, "--trace", "old.pftrace"],
        {"old.pftrace": b"precious"},
    )
    add(
        "trace",
        "run-pftrace-dir",
        [*run, "--trace", "d.pftrace"],
        {"d.pftrace": lambda p: p.mkdir()},
    )
    add(
        "trace",
        "run-pftrace-fifo",
        [*run, "--trace", "f.pftrace"],
        {"f.pftrace": lambda p: os.mkfifo(p)},
    )
    add(
        "trace",
        "run-pftrace-big-graph",
        ["run", "resnet50", "--chip", "h100-sxm", "-q", "--trace", "o.pftrace"],
    )
    add("parquet", "kernels", [*run, "--kernels", "k.parquet"])
    add(
        "parquet",
        "kernels-is-chip",
        ["run", "mlp", "--chip", "c.yaml", "-q", "--kernels", "c.yaml"],
        {"c.yaml": dump({"name": "x", "base": "toy", "hypothetical": True})},
    )
    add("parquet", "kernels-existing", [*run, "--kernels", "k.parquet"], {"k.parquet": b"precious"})
    add(
        "parquet",
        "kernels-dir",
        [*run, "--kernels", "k.parquet"],
        {"k.parquet": lambda p: p.mkdir()},
    )
    add("parquet", "kernels-equals-json", [*run, "--kernels", "k.parquet", "--json", "k.parquet"])
    add("parquet", "kernels-missing-dir", [*run, "--kernels", "no/k.parquet"])
    sweep = ["sweep", "mlp", "--chip", "toy", "--vary", "batch=1,2", "-j", "1"]
    add("parquet", "sweep-out", [*sweep, "--out", "s.parquet"])
    add(
        "parquet",
        "sweep-existing-garbage",
        [*sweep, "--out", "s.parquet"],
        {"s.parquet": os.urandom(500)},
    )
    add(
        "parquet",
        "sweep-resume-garbage",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet": os.urandom(500)},
    )
    add(
        "parquet",
        "sweep-resume-truncated-magic",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet": b"PAR1" + os.urandom(100) + b"PAR1"},
    )
    add(
        "parquet",
        "sweep-resume-empty",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet": b""},
    )
    add(
        "parquet",
        "sweep-resume-partial-garbage",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet.partial.csv": b'\xff\xfe\x00garbage,\n"\n'},
    )
    add(
        "parquet",
        "sweep-resume-partial-dir",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet.partial.csv": lambda p: p.mkdir()},
    )
    add(
        "parquet",
        "sweep-resume-csv-as-parquet",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet": "batch,latency\n1,2\n"},
    )
    add(
        "parquet",
        "sweep-out-dir",
        [*sweep, "--out", "s.parquet"],
        {"s.parquet": lambda p: p.mkdir()},
    )
    add(
        "parquet",
        "sweep-resume-fifo",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet": lambda p: os.mkfifo(p)},
    )
    add(
        "parquet",
        "sweep-resume-valid-foreign",
        [*sweep, "--out", "s.parquet", "--resume"],
        {"s.parquet": _foreign_parquet},
    )
    return cases


def _foreign_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), str(path))
