"""The values of a `--vary` key: a list `a,b,c`, a geometric range `a..b*F` (a, a*F,
a*F^2, ... up to b) or an arithmetic range `a..b+S`, mixed freely (`1,3..9+3`).

Range endpoints may carry units (`1MiB..256MiB*2`, parsed by hardware.quantity, one
dimension per range); the values stay text with a unit ("2MiB"), so each point's chip goes
through `load_chip`'s overrides and is validated like a chip file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from hardware import quantity
from hardware.errors import InputError
from hardware.load import parse_scalar, split_assignment

MAX_AXIS_VALUES = 10_000
VARY_USAGE = (
    "KEY=VALUES, e.g. memory.dram.bandwidth=0.5TB/s,1TB/s or memory.l2.capacity=1MiB..64MiB*2"
)

# dimension -> parser, in the order a unit string is tried
DIMENSIONS: dict[str, Callable[[str], float]] = {
    "size": quantity.parse_bytes,
    "bandwidth": quantity.parse_bandwidth,
    "frequency": quantity.parse_frequency,
    "time": quantity.parse_time,
    "power": quantity.parse_power,
    "energy": quantity.parse_energy,
    "temperature": quantity.parse_temperature,
    "thermal resistance": quantity.parse_thermal_resistance,
    "heat capacity": quantity.parse_heat_capacity,
}
# dimension -> its SI unit, as a sweep's column header names it ("memory.dram.bandwidth [B/s]")
SI_UNITS: dict[str, str] = {
    "size": "B",
    "bandwidth": "B/s",
    "frequency": "Hz",
    "time": "s",
    "power": "W",
    "energy": "J",
    "temperature": "degC",
    "thermal resistance": "K/W",
    "heat capacity": "J/K",
}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_WITH_UNIT = re.compile(rf"^\s*({_NUMBER})\s*(\S.*?)?\s*$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")
_RANGE = re.compile(r"^(?P<start>.+?)\.\.(?P<end>.+?)(?:(?P<op>[*+])(?P<step>[^*+]+))?$")


def parse_values(key: str, text: str, source: str = "--vary") -> list[Any]:
    """'0.5TB/s,1TB/s' or '1MiB..8MiB*2' or '16..128+16' -> the list of values."""
    values: list[Any] = []
    for item in _split_items(text):
        if not item:
            raise InputError(
                f"{source} {key}: empty value in {text!r}; write values separated "
                "by commas, e.g. 1TB/s,2TB/s, or a range like 1MiB..64MiB*2."
            )
        values.extend(_range(key, item, source) if ".." in item else [parse_scalar(item)])
    return unique(values)


def parse_vary(text: str, source: str = "--vary") -> tuple[str, list[Any]]:
    """'memory.dram.bandwidth=1TB/s,2TB/s' -> ('memory.dram.bandwidth', ['1TB/s', '2TB/s'])."""
    key, values = split_assignment(text, VARY_USAGE, source, need_value=True)
    return key, parse_values(key, values, source)


def unique(values: Iterable[Any]) -> list[Any]:
    """The values in order, each once (compared as JSON, so 1 and '1' differ)."""
    seen: set[str] = set()
    kept = []
    for value in values:
        marker = json.dumps(value, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            kept.append(value)
    return kept


def axis_number(value: Any) -> float | None:
    """A varied value as a number (SI for quantities, '2MiB' -> 2097152.0), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or _split_unit(value) is None:
        return None
    for parse in DIMENSIONS.values():
        try:
            return parse(value)
        except ValueError:
            continue
    return None


def axis_dimension(values: Iterable[Any]) -> str | None:
    """The one dimension the values are quantities of, when at least one carries a unit
    ('1TB/s', 2e12 -> 'bandwidth'); None for plain numbers, text, or mixed dimensions."""
    values = list(values)
    texts = [v for v in values if isinstance(v, str)]
    if not any(_split_unit(t) and _split_unit(t)[1] for t in texts):
        return None
    if any(isinstance(v, bool) or not isinstance(v, int | float | str) for v in values):
        return None
    common = list(DIMENSIONS)
    for text in texts:
        found = _dimensions(text)
        common = [d for d in common if d in found]
    return common[0] if common else None


def si_value(value: Any, dimension: str) -> float:
    """A value of `dimension` in SI units: '2TB/s' -> 2e12; a bare number as it is."""
    return float(value) if isinstance(value, int | float) else DIMENSIONS[dimension](value)


def _split_items(text: str) -> list[str]:
    """Split on commas outside brackets, so '[8, 8, 16],[4, 4, 4]' is two values."""
    items, depth, current = [], 0, []
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


def _split_unit(text: str) -> tuple[str, str] | None:
    match = _WITH_UNIT.match(text)
    return (match.group(1), match.group(2) or "") if match else None


def _dimensions(text: str) -> list[str]:
    """The dimensions `text` parses as (every one for a bare number), in DIMENSIONS order."""
    found = []
    for name, parse in DIMENSIONS.items():
        try:
            parse(text)
        except ValueError:
            continue
        found.append(name)
    return found


def _range(key: str, item: str, source: str) -> list[Any]:
    match = _RANGE.match(item)
    if not match:
        raise InputError(
            f"{source} {key}: cannot read the range {item!r}; write START..END*FACTOR "
            "(geometric) or START..END+STEP (arithmetic), e.g. 1MiB..256MiB*2."
        )
    start, end = match["start"].strip(), match["end"].strip()
    op, step = match["op"], (match["step"] or "").strip()
    if op == "+" and re.search(r"\de$", end, re.IGNORECASE):  # '1e+3' is an exponent
        end, op, step = f"{end}+{step}", None, ""
    where = f"{source} {key}={item}"
    for part in (start, end):
        if _split_unit(part) is None:
            raise InputError(
                f"{where}: {part!r} is not a number or a quantity with a unit "
                "(e.g. 64, 2MiB, 1.5TB/s)."
            )
    units = [u for u in (_split_unit(start)[1], _split_unit(end)[1]) if u]
    if op == "+" and _split_unit(step) and _split_unit(step)[1]:
        units.append(_split_unit(step)[1])
    if op is None:
        if units or not (_INTEGER.match(start) and _INTEGER.match(end)):
            raise InputError(
                f"{where}: say how to step, e.g. {start}..{end}*2 (geometric) or "
                f"{start}..{end}+STEP (arithmetic)."
            )
        op, step = "+", "1"
    if op == "+" and _split_unit(step) is None:
        raise InputError(f"{where}: the step {step!r} is not a number or quantity.")
    if op == "*" and not (_split_unit(step) and not _split_unit(step)[1]):
        raise InputError(f"{where}: the factor {step!r} must be a plain number greater than 1.")
    try:
        if not units:
            return _numbers(start, end, op, step, where)
        return _quantities(start, end, op, step, units, where)
    except OverflowError:
        raise InputError(f"{where}: a number is too large; the range must be finite.") from None


def _numbers(start: str, end: str, op: str, step: str, where: str) -> list[Any]:
    integers = all(_INTEGER.match(t) for t in (start, end)) and bool(
        _INTEGER.match(step) if op == "+" else float(step).is_integer()
    )
    if integers:
        return _progression(int(start), int(end), op, int(float(step)), where)
    values = _progression(float(start), float(end), op, float(step), where)
    return [float(f"{v:.12g}") for v in values]


def _quantities(
    start: str, end: str, op: str, step: str, units: list[str], where: str
) -> list[str]:
    """Values as text, each in the largest of the range's units that keeps it >= 1
    ('512KiB..4MiB*2' -> 512KiB, 1MiB, 2MiB, 4MiB)."""
    parts = [start, end] + ([step] if op == "+" else [])
    common = [d for d in _dimensions(parts[0]) if all(d in _dimensions(p) for p in parts[1:])]
    if not common:
        kinds = "; ".join(f"{p!r}: {', '.join(_dimensions(p)) or 'no known unit'}" for p in parts)
        raise InputError(
            f"{where}: the range's endpoints (and step) must be of one dimension "
            f"with known units ({kinds})."
        )
    parse = DIMENSIONS[common[0]]
    scales = sorted({(parse(f"1{u}") - parse(f"0{u}"), parse(f"0{u}"), u) for u in units})
    factor: float = float(step) if op == "*" else parse(step)
    texts = []
    for value in _progression(parse(start), parse(end), op, factor, where):
        fitting = [s for s in scales if abs(value - s[1]) >= s[0]]
        scale, offset, unit = fitting[-1] if fitting else scales[0]
        texts.append(f"{(value - offset) / scale:.12g}{unit}")
    return texts


def _progression(start: float, end: float, op: str, step: float, where: str) -> list[Any]:
    if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(step)):
        raise InputError(f"{where}: the range must be finite.")
    if start > end:
        raise InputError(f"{where}: the start is larger than the end.")
    if op == "*" and (step <= 1 or start <= 0):
        raise InputError(
            f"{where}: a geometric range needs a factor greater than 1 and a start "
            f"greater than zero (got factor {step:g}, start {start:g})."
        )
    if op == "+" and step <= 0:
        raise InputError(f"{where}: an arithmetic range needs a step greater than zero.")
    try:
        span = (
            math.log(end / start) / math.log(step) if op == "*" else (end - start) / step
        )  # values after the first
    except (OverflowError, ZeroDivisionError):
        span = math.inf
    if not math.isfinite(span) or span + 1 > MAX_AXIS_VALUES:
        shown = f"about {span + 1:.3g}" if math.isfinite(span) else "too many"
        raise InputError(
            f"{where}: the range makes {shown} values; at most {MAX_AXIS_VALUES:,} per key. "
            "Use a larger step or factor, or list the values."
        )
    count = math.floor(span + 1e-9) + 1
    return [start * step**i if op == "*" else start + i * step for i in range(count)]
