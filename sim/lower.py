"""Lowering: each op (or fused group of ops) becomes a kernel plan on one unit.

The model, per op:
- Unit: the accelerator unit that finishes it soonest among those that support its kind,
  op class and dtype; ops no accelerator unit takes fall back to the host unit.
- Work is counted in MAC slots (one MAC, or one element operation, per slot). Matrix ops
  are padded to the unit's native tile (M, N, K); vector ops to its vector width.
- Parallelism: a matrix op splits into output blocks (the unit's block shape that
  finishes soonest), a vector op into chunks; tiles run in waves over the instances.
- DRAM traffic: operands re-read as a blocked GEMM must when they do not fit the on-chip
  capacity (so more capacity never means more traffic); a tensor still on chip from an
  earlier kernel is read from there (sim/traffic.py); outputs are written back once.
  Reshapes are free views.
- Weight-only quantization (a matmul/linear whose const weight is stored in a narrower
  dtype than it computes in): the kernel reads the packed weights plus one fp16 scale per
  `group_size` weights, and dequantizes each weight it loads on the unit's vector lanes
  (`dequant_cycles`). A real fused kernel (gpt-fast's int8 kernel, tinygemm, Marlin)
  dequantizes a weight tile in registers while the matrix engine multiplies the previous
  one, so on a matrix engine only the part longer than the MACs shows (`overlapped`); a
  GEMM that itself runs on the vector lanes shares them and pays both (`serial`). The
  exposed part is `unspecialized`: the engine cannot take the stored dtype natively.
- Systolic arrays (`unit.systolic`): each fold pays the pipeline fill and drain of
  SCALE-Sim's analytical model (`fill_drain_cycles`), charged to `starvation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from hardware.chip import DTYPE_BYTES, Chip, Unit
from hardware.errors import InputError
from sim.dataflow import Dataflow
from sim.traffic import Touches, dram_reads
from workloads.graph import Graph, Op
from workloads.ops import group_size, numel

# bytes of a partial-sum accumulator per output element while a block is computed
ACCUMULATOR_BYTES = 4
# depth of the K chunk streamed through the on-chip working set of a blocked GEMM
K_CHUNK = 256


@dataclass(frozen=True, slots=True)
class Stage:
    """One op's compute inside a kernel, in cycles on one instance."""

    op_class: str
    useful_ops: float  # 2 per MAC + element ops: what counts toward TOP/s
    slots: float  # MAC slots of real work
    padded_slots: float  # after padding to the native tile / vector width
    tiles: int
    tile_cycles: float  # cycles one instance spends on one tile
    rate: float  # MAC slots per cycle per instance for this class and dtype
    efficiency: float = 1.0  # share of `rate` real kernels sustain (tile_cycles include it)
    # cycles per tile beyond the padded MAC work (already in tile_cycles), by the loss
    # category they count as: exposed dequantization, systolic fill and drain
    extras: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class Kernel:
    """A unit of launch: one op or a fused group, with its traffic and dependencies."""

    index: int
    name: str
    unit: str
    host: bool
    stages: tuple[Stage, ...]
    deps: tuple[int, ...] = ()
    needs_input: bool = False
    dram_read_bytes: float = 0.0
    dram_write_bytes: float = 0.0
    onchip_bytes: float = 0.0
    host_in_bytes: float = 0.0  # device -> host before a host kernel runs
    host_out_bytes: float = 0.0  # host -> device after it
    kinds: tuple[str, ...] = ()
    dtype: str = "fp16"
    overhead: str | None = None  # a loss category the whole kernel counts as (not model work)
    steady_read_bytes: float | None = None  # DRAM reads in later batches of a stream

    def read_bytes(self, batch: int) -> float:
        """DRAM bytes read in `batch` (later batches find some tensors still on chip)."""
        if batch > 0 and self.steady_read_bytes is not None:
            return self.steady_read_bytes
        return self.dram_read_bytes

    def traffic(self, batch: int) -> float:
        """DRAM bytes moved in `batch`, reads and writes."""
        return self.read_bytes(batch) + self.dram_write_bytes

    @property
    def useful_ops(self) -> float:
        return sum(s.useful_ops for s in self.stages)

    @property
    def dram_bytes(self) -> float:
        return self.dram_read_bytes + self.dram_write_bytes

    def compute_cycles(self, instances: int) -> float:
        """Cycles on the unit: the stages run one after another, each in waves."""
        return sum(math.ceil(s.tiles / instances) * s.tile_cycles for s in self.stages)

    def active_instances(self, instances: int) -> int:
        return max(1, min(instances, max((s.tiles for s in self.stages), default=1)))


def pad(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def op_slots(op: Op) -> float:
    return float(op.macs + op.stats.flops)


def unit_rate(unit: Unit, op: Op, tf32: bool = False) -> float | None:
    """MAC slots per cycle per instance for `op` on `unit`, or None if it cannot run it.

    A matrix op whose dtype the unit's matrix engine lacks runs as fused multiply-adds on
    its vector lanes, as a GPU runs an fp32 GEMM on its CUDA cores; with `tf32`, an fp32
    one runs on the matrix engine in TF32 instead, where the engine has that rate (what
    `torch.backends.cuda.matmul.allow_tf32` allows). The host runs everything somehow.
    """
    if unit.host:
        table = unit.rates.get(op.op_class) or next(iter(v for v in unit.rates.values() if v))
        return table.get(op.dtype) or table.get("fp32") or max(table.values())  # type: ignore
    rate = unit.rate(op.op_class, op.dtype)
    if rate is None and op.op_class == "matrix":
        if tf32 and op.dtype == "fp32":
            rate = unit.rate("matrix", "tf32")
        if rate is None:
            rate = unit.rate("vector", op.dtype)
    return rate


def on_matrix_engine(unit: Unit, op: Op, tf32: bool = False) -> bool:
    """True when a matrix op uses the unit's matrix engine (and its native tile)."""
    if unit.rate("matrix", op.dtype) is not None:
        return True
    return tf32 and op.dtype == "fp32" and unit.rate("matrix", "tf32") is not None


# vector operations per stored weight to dequantize it in a fused kernel: convert the
# integer to the compute dtype and scale it (one multiply, or one FMA that also applies
# the group's zero point); a sub-byte weight is first unpacked from its byte (a shift and
# a mask: 2 integer ops). So int8 costs 2 ops per weight and int4 costs 4.
DEQUANT_INTEGER_OPS = 1  # convert, on the integer lanes
DEQUANT_SCALE_OPS = 1  # scale (or FMA with the zero point), in the compute dtype
UNPACK_OPS = 2  # shift and mask, only for weights narrower than a byte
SCALE_DTYPE = "fp16"  # one group scale per `group_size` weights (GPTQ, AWQ, gpt-fast)


@dataclass(frozen=True, slots=True)
class WeightQuant:
    """The weight of a matrix op stored in `dtype`, narrower than the op computes in."""

    dtype: str
    group_size: int

    @property
    def integer_ops(self) -> int:
        """Integer-lane ops per weight: the convert, and the unpack for sub-byte weights."""
        return DEQUANT_INTEGER_OPS + (UNPACK_OPS if DTYPE_BYTES[self.dtype] < 1 else 0)

    def scale_bytes(self, shape: tuple[int, ...]) -> float:
        """Bytes of the group scales of a [..., K, N] weight: groups run along K."""
        k, n = shape[-2], shape[-1]
        return numel(shape[:-2]) * -(-k // self.group_size) * n * DTYPE_BYTES[SCALE_DTYPE]


def weight_quant(graph: Graph, op: Op) -> WeightQuant | None:
    """The op's weight quantization, or None when its weight is stored as it computes."""
    if op.kind not in ("linear", "matmul") or len(op.inputs) < 2:
        return None
    weight = graph.tensors[op.inputs[1]]
    if not weight.const or DTYPE_BYTES[weight.dtype] >= DTYPE_BYTES[op.dtype]:
        return None
    return WeightQuant(weight.dtype, group_size(op.attrs))


def dequant_cycles(unit: Unit, op: Op, quant: WeightQuant, weights: float) -> float:
    """Cycles one instance spends dequantizing `weights` stored weights on its vector lanes.

    The integer ops run at the unit's vector rate for the stored integer type (int8's for
    int4: the unpacked field is a byte); the scale at its vector rate for the compute
    dtype; both at the vector efficiency. A unit without vector lanes is assumed to convert
    in its weight path at its best rate for the compute dtype.
    """
    vector = unit.rates.get("vector", {})
    compute_rate = vector.get(op.dtype) or unit.best_rate(op.dtype)  # type: ignore[call-overload]
    integer_rate = vector.get(quant.dtype) or vector.get("int8") or compute_rate  # type: ignore[call-overload]
    efficiency = unit.efficiency.get("vector", 1.0) if vector else 1.0
    per_weight = quant.integer_ops / integer_rate + DEQUANT_SCALE_OPS / compute_rate
    return weights * per_weight / efficiency


def overlapped(mac_cycles: float, side_cycles: float) -> tuple[float, float]:
    """Side work on other lanes while the matrix engine multiplies: (tile, exposed) cycles."""
    return max(mac_cycles, side_cycles), max(0.0, side_cycles - mac_cycles)


def serial(mac_cycles: float, side_cycles: float) -> tuple[float, float]:
    """Side work on the same lanes as the MACs: (tile, exposed) cycles."""
    return mac_cycles + side_cycles, side_cycles


def fill_drain_cycles(systolic: tuple[int, int], rows_k: int, cols_n: int) -> float:
    """Fill and drain of a weight-stationary systolic array over one output tile.

    SCALE-Sim's analytical model (Samajdar et al. 2018, arXiv:1811.02883) gives one fold
    of an R x C array 2R + C + T - 2 cycles, of which T (the rows streamed through it)
    are MACs: the inputs skew in over R cycles, partial sums ripple down R rows and out
    across C columns. A tile of depth K and width N maps onto ceil(K/R) x ceil(N/C) folds
    (weights stationary: K on the rows, N on the columns), each paying 2R + C - 2, and
    folds do not overlap (the model's assumption). It is `starvation`: the PEs the
    wavefront has not reached, or has left, have no operands, and the remedy is the
    starvation one, a bigger batch (a longer T per fold), not another layer shape.
    """
    rows, cols = systolic
    folds = -(-rows_k // rows) * -(-cols_n // cols)
    return float(folds * (2 * rows + cols - 2))


def stage_for(op: Op, unit: Unit, tf32: bool = False, quant: WeightQuant | None = None) -> Stage:
    """Padded work and its split into parallel tiles on `unit`."""
    rate = unit_rate(unit, op, tf32) or 0.0
    slots = op_slots(op)
    gemm = op.gemm
    if gemm is not None and op.op_class == "matrix" and slots > 0:
        engine = not unit.host and on_matrix_engine(unit, op, tf32)
        efficiency = unit.sustained_share("matrix" if engine or unit.host else "vector", op.dtype)
        sustained = rate * efficiency
        # FMAs on vector lanes have no matrix tile to pad to
        tm, tn, tk = unit.tile if engine or unit.host else (1, 1, 1)
        mp, np_, kp = pad(gemm.m, tm), pad(gemm.n, tn), pad(gemm.k, tk)
        padded = float(gemm.batch * mp * np_ * kp) * slots / gemm.macs
        schedule = overlapped if engine else serial
        best: tuple[float, int, float, tuple[tuple[str, float], ...]] | None = None
        for bm, bn in unit.blocks:
            tiles = gemm.batch * -(-mp // bm) * -(-np_ // bn)
            tile_cycles = min(bm, mp) * min(bn, np_) * kp / sustained * slots / gemm.macs
            extras: list[tuple[str, float]] = []
            if quant is not None:
                side = dequant_cycles(unit, op, quant, min(bn, np_) * kp)
                tile_cycles, exposed = schedule(tile_cycles, side)
                extras.append(("unspecialized", exposed))
            if engine and unit.systolic is not None:
                fill = fill_drain_cycles(unit.systolic, kp, min(bn, np_))
                tile_cycles += fill
                extras.append(("starvation", fill))
            finish = math.ceil(tiles / unit.instances) * tile_cycles
            if best is None or finish < best[0]:
                best = (finish, tiles, tile_cycles, tuple(extras))
        assert best is not None
        _, tiles, tile_cycles, extras_best = best
        return Stage(
            "matrix", float(op.ops), slots, padded, tiles, tile_cycles, rate, efficiency,
            extras_best,
        )  # fmt: skip
    elements = max(1, numel(op.stats.out_shapes[0]))
    if slots == 0:
        return Stage(op.op_class, float(op.ops), 0.0, 0.0, 1, 0.0, rate)
    efficiency = unit.efficiency.get(op.op_class, 1.0)
    per_element = slots / elements
    padded_elements = pad(elements, unit.vector_width)
    tiles = -(-padded_elements // unit.vector_block)
    tile_cycles = min(unit.vector_block, padded_elements) * per_element / (rate * efficiency)
    return Stage(
        op.op_class,
        float(op.ops),
        slots,
        padded_elements * per_element,
        tiles,
        tile_cycles,
        rate,
        efficiency,
    )


class StageCache:
    """Stages by (unit, op numbers, dtype): the identical layers of a deep network share one."""

    def __init__(self, tf32: bool = False) -> None:
        self.tf32 = tf32
        self.stages: dict[tuple, Stage] = {}

    def get(self, op: Op, name: str, unit: Unit, quant: WeightQuant | None = None) -> Stage:
        key = (name, op.stats, op.dtype, quant)
        stage = self.stages.get(key)
        if stage is None:
            stage = self.stages[key] = stage_for(op, unit, self.tf32, quant)
        return stage


@dataclass(frozen=True, slots=True)
class Placement:
    """Where each op runs, and its work there."""

    unit: dict[str, str]  # op name -> unit name
    stage: dict[str, Stage]  # op name -> its stage on that unit


def assign_units(graph: Graph, chip: Chip, tf32: bool = False) -> Placement:
    """Each op's unit and its stage there.

    The advertised accelerator is the compile target: the fastest peak unit that supports
    the op takes it; failing that the fastest other accelerator unit (a phone GPU); ops no
    accelerator takes fall back to the host CPU.
    """
    host = chip.host_unit()
    units: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    cache = StageCache(tf32)
    # the choice depends only on these, so the identical layers of a deep network share it
    chosen: dict[tuple, tuple[str, Stage] | None] = {}
    for op in graph.order:
        quant = weight_quant(graph, op)
        key = (op.kind, op.accelerated, op.stats, op.dtype, quant)
        if key in chosen:
            choice = chosen[key]
        else:
            choice = chosen[key] = _fastest_unit(chip, op, cache, quant, tf32)
        if choice is not None:
            units[op.name], stages[op.name] = choice
        elif host is not None:
            units[op.name], stages[op.name] = host, cache.get(op, host, chip.units[host], quant)
        else:
            why = (
                "it is marked accelerated: false"
                if not op.accelerated
                else (f"no unit supports {op.kind} in {op.op_class}/{op.dtype}")
            )
            raise InputError(
                f"op {op.name!r} ({op.kind}) cannot run on chip {chip.name!r}: {why}, "
                "and the chip has no host unit (host: true) to fall back to."
            )
    return Placement(unit=units, stage=stages)


def _fastest_unit(
    chip: Chip, op: Op, cache: StageCache, quant: WeightQuant | None, tf32: bool
) -> tuple[str, Stage] | None:
    """The accelerator unit that takes `op` (see assign_units) and its stage, or None."""
    if not op.accelerated:
        return None
    best: tuple[bool, float, str, Stage] | None = None
    for name, unit in chip.units.items():
        if unit.host or not unit.supports_kind(op.kind):
            continue
        if unit_rate(unit, op, tf32) is None:
            continue
        stage = cache.get(op, name, unit, quant)
        seconds = math.ceil(stage.tiles / unit.instances) * stage.tile_cycles
        candidate = (not unit.peak, seconds / chip.unit_clock(name), name, stage)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    return None if best is None else (best[2], best[3])


@lru_cache(maxsize=4096)  # a pure function of numbers: the layers of a network repeat
def gemm_traffic_factors(
    m: int, n: int, k: int, elem: float, capacity: float, footprint: float | None = None
) -> tuple[float, float]:
    """Times the A (M x K) and B (K x N) operands are read from DRAM by a blocked GEMM.

    The best of: output-stationary blocks Tm x Tn (A read ceil(N/Tn) times, B ceil(M/Tm)
    times) whose accumulators and K-chunks fit in `capacity`; or one operand held whole
    on chip while the other streams once. Minimising over a set that only grows with
    capacity makes traffic non-increasing in capacity. `footprint` is the bytes of the real
    operands (a convolution's input is smaller than its im2col matrix).
    """
    if footprint is None:
        footprint = (m * k + k * n + m * n) * elem
    if footprint <= capacity:
        return 1.0, 1.0
    best = (float(-(-n // 1)), float(-(-m // 1)))
    best_bytes = m * k * best[0] + k * n * best[1]
    candidates_m = sorted({min(m, 2**i) for i in range(0, 16)} | {m})
    candidates_n = sorted({min(n, 2**i) for i in range(0, 16)} | {n})
    kc = min(k, K_CHUNK)
    for tm in candidates_m:
        for tn in candidates_n:
            if tm * tn * ACCUMULATOR_BYTES + (tm + tn) * kc * elem > capacity:
                continue
            fa, fb = float(-(-n // tn)), float(-(-m // tm))
            traffic = m * k * fa + k * n * fb
            if traffic < best_bytes:
                best, best_bytes = (fa, fb), traffic
    if k * n * elem + k * min(m, 16) * elem <= capacity and m * k + k * n < best_bytes:
        best, best_bytes = (1.0, 1.0), m * k + k * n
    if m * k * elem + k * min(n, 16) * elem <= capacity and m * k + k * n < best_bytes:
        best = (1.0, 1.0)
    return best


def lower(
    graph: Graph,
    chip: Chip,
    groups: list[list[Op]],
    placement: Placement,
    flow: Dataflow,
    batches: int = 1,
) -> list[Kernel]:
    """Kernels for the fused groups (given in a topological order), with traffic and
    dependencies on every kernel that produces any member's input.

    For a stream (`batches` > 1) each kernel also gets the DRAM reads of a batch after
    the first (`steady_read_bytes`): what stays on chip across batches (sim/traffic.py).
    """
    capacity = chip.memory.onchip_bytes()
    tensors = graph.tensors
    root = flow.roots.get  # root(t, t): a tensor's view root (flow.root, without a call)
    kernel_of = {
        root(t, t): index for index, group in enumerate(groups) for op in group for t in op.outputs
    }
    kernels: list[Kernel] = []
    # each batch brings new inputs: an on-chip copy left by the previous batch is stale
    touches = Touches()
    for tensor in sorted(flow.inputs):
        touches.add(-1, tensor, "stale")
    for index, group in enumerate(groups):
        unit_name = placement.unit[group[0].name]
        unit = chip.units[unit_name]
        internal = {root(t, t) for op in group for t in op.outputs}
        names = {op.name for op in group}
        kernel = Kernel(
            index=index,
            name="+".join(op.name for op in group),
            unit=unit_name,
            host=unit.host,
            stages=tuple(placement.stage[op.name] for op in group),
            kinds=tuple(op.kind for op in group),
            dtype=group[0].dtype,
        )
        deps: set[int] = set()
        seen: set[str] = set()
        for op in group:
            factors = _operand_factors(op, capacity)
            quant = weight_quant(graph, op)
            for position, t in enumerate(op.inputs):
                tensor = root(t, t)
                if tensor in internal or tensor in seen:
                    continue
                seen.add(tensor)
                if tensor in kernel_of:
                    deps.add(kernel_of[tensor])
                kernel.needs_input |= tensor in flow.inputs
                size = tensors[t].nbytes
                if quant is not None and position == 1:  # the packed weights and their scales
                    size += quant.scale_bytes(tensors[t].shape)
                nbytes = size * (
                    op.stats.read_fraction if op.kind == "embedding" and position == 1 else 1.0
                )
                moved = nbytes * factors.get(position, 1.0)
                kernel.onchip_bytes += moved
                weight = tensors[tensor].const
                if unit.host:
                    kernel.host_in_bytes += 0.0 if weight else nbytes
                    continue
                touches.add(index, tensor, "read", moved, size, weight)
        for op in group:
            for t in op.outputs:
                tensor = root(t, t)
                if tensor in flow.outputs or any(
                    r not in names for r in flow.readers.get(tensor, ())
                ):
                    nbytes = tensors[t].nbytes
                    kernel.onchip_bytes += nbytes
                    if unit.host:  # copied back to device memory: any on-chip copy is stale
                        kernel.host_out_bytes += nbytes
                        touches.add(index, tensor, "stale")
                        continue
                    kernel.dram_write_bytes += nbytes
                    touches.add(index, tensor, "write", size=nbytes)
        if any(dep >= index for dep in deps):
            raise RuntimeError(f"kernel {kernel.name!r} was placed before a producer of its input")
        kernel.deps = tuple(sorted(deps))
        kernels.append(kernel)
    reads = dram_reads(touches, len(kernels), chip, batches)
    for kernel, first, steady in zip(kernels, reads.first, reads.steady, strict=True):
        kernel.dram_read_bytes = first
        kernel.steady_read_bytes = steady if batches > 1 else None
    return kernels


def _operand_factors(op: Op, capacity: float) -> dict[int, float]:
    """Re-read factors of a GEMM's two operands (input positions 0 and 1)."""
    gemm = op.gemm
    if gemm is None or op.kind == "attention":
        return {}
    elem = DTYPE_BYTES[op.dtype]
    footprint = op.read_bytes + op.write_bytes
    fa, fb = gemm_traffic_factors(gemm.m, gemm.n, gemm.k, elem, capacity, footprint)
    return {0: fa, 1: fb}


# element operations to decompress one byte of input (an LZ/entropy decoder on a vector unit)
DECOMPRESS_OPS_PER_BYTE = 4


def decompression_kernel(chip: Chip, compressed_bytes: float, raw_bytes: float) -> Kernel:
    """A device kernel that inflates the compressed input before the first layer reads it.

    Its cost model: DECOMPRESS_OPS_PER_BYTE element operations per output byte on the
    fastest accelerator unit with a vector rate (an assumption, not a measured decoder).
    """
    best: tuple[float, str, float] | None = None
    for name, unit in chip.units.items():
        if unit.host or "vector" not in unit.rates or not unit.rates["vector"]:
            continue
        rate = max(unit.rates["vector"].values())
        speed = rate * unit.instances * chip.unit_clock(name)
        if best is None or speed > best[0]:
            best = (speed, name, rate)
    if best is None:
        raise InputError(
            f"chip {chip.name!r} has no accelerator unit with a vector rate to run "
            "the input decompression; drop --input-compression."
        )
    unit = chip.units[best[1]]
    slots = raw_bytes * DECOMPRESS_OPS_PER_BYTE
    tiles = max(1, math.ceil(raw_bytes / unit.vector_block))
    stage = Stage(
        "vector",
        0.0,
        slots,
        slots,
        tiles,
        min(raw_bytes, unit.vector_block) * DECOMPRESS_OPS_PER_BYTE / best[2],
        best[2],
    )
    return Kernel(
        index=0,
        name="decompress input",
        unit=best[1],
        host=False,
        stages=(stage,),
        needs_input=True,
        dram_read_bytes=compressed_bytes,
        dram_write_bytes=raw_bytes,
        onchip_bytes=compressed_bytes + raw_bytes,
        kinds=("decompress",),
        overhead="input_io",
    )


def prepend(first: Kernel, kernels: list[Kernel]) -> list[Kernel]:
    """`first` runs before the kernels that read the input; indices shift by one."""
    shifted = [first]
    for kernel in kernels:
        kernel.index += 1
        kernel.deps = tuple(d + 1 for d in kernel.deps) + ((0,) if kernel.needs_input else ())
        kernel.needs_input = False
        shifted.append(kernel)
    return shifted
