"""Numbers with units, parsed once at the edge and stored in SI base units.

A spec writes `"3.35 TB/s"`, `"50 MiB"`, `"1.83 GHz"`, `"4 us"`, `"700 W"`; inside topsim
every quantity is a float in bytes, bytes/s, Hz, s, W, J, K/W or J/K. Decimal prefixes
(k, M, G, T, P) are powers of 1000 and binary ones (Ki, Mi, Gi, Ti) powers of 1024, as
datasheets use them. A bare number is taken as already in the base unit.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_SUBUNIT = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}

# dimension -> (accepted unit suffixes, what to say when one does not parse)
_TIME = {
    "": 1.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
    "ps": 1e-12,
    "min": 60.0,
}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([^\s\d].*?)?\s*$", re.IGNORECASE)


MAX_QUANTITY_CHARS = 100  # "3.35 TB/s" needs ten; a longer one is not a quantity


class QuantityError(ValueError):
    """A unit string that does not parse; the message says what is allowed."""


def to_float(value: object) -> float:
    """A user's number as a float: an integer too large for a float (10**400) is a
    QuantityError, not an OverflowError; a bool is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QuantityError(f"must be a number, got {type(value).__name__} {_shown(value)}")
    try:
        return float(value)
    except OverflowError:
        raise QuantityError("is a number too large to be physical (over 1e308)") from None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _split(text: str, dimension: str, examples: str) -> tuple[float, str]:
    if not isinstance(text, str):
        raise QuantityError(
            f"must be a {dimension} such as {examples}, got {type(text).__name__} {_shown(text)}"
        )
    if len(text) > MAX_QUANTITY_CHARS:
        raise QuantityError(f"a {dimension} is at most {MAX_QUANTITY_CHARS} characters")
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(
            f"{text!r} is not a {dimension}; write a number and a unit, e.g. {examples}"
        )
    return float(match.group(1)), (match.group(2) or "")


def _scaled(prefix: str, allow_binary: bool) -> float | None:
    if prefix in _DECIMAL:
        return _DECIMAL[prefix]
    if allow_binary and prefix in _BINARY:
        return _BINARY[prefix]
    return None


def _with_base(
    text: str, bases: dict[str, float], dimension: str, examples: str, allow_binary: bool
) -> float:
    value, unit = _split(text, dimension, examples)
    if unit == "":
        return value
    for base, base_scale in sorted(bases.items(), key=lambda kv: -len(kv[0])):
        if unit.endswith(base):
            scale = _scaled(unit[: -len(base)], allow_binary)
            if scale is not None:
                return value * scale * base_scale
    raise QuantityError(
        f"{text!r}: unknown unit {unit!r} for a {dimension}; allowed e.g. {examples}"
    )


def parse_bytes(text: str | float | int) -> float:
    """'50 MiB' -> 52428800.0; 'KB' is 1000 bytes, 'KiB' 1024."""
    if isinstance(text, int | float):
        return to_float(text)
    return _with_base(
        text,
        {"B": 1.0, "byte": 1.0, "bytes": 1.0},
        "size in bytes",
        "'50 MiB', '80 GB', '512 KiB'",
        allow_binary=True,
    )


def parse_bandwidth(text: str | float | int) -> float:
    """'3.35 TB/s' -> 3.35e12 bytes/s; 'Gbit/s' and 'Gbps' are bits."""
    if isinstance(text, int | float):
        return to_float(text)
    bases = {"B/s": 1.0, "bit/s": 0.125, "bps": 0.125, "b/s": 0.125}
    return _with_base(
        text, bases, "bandwidth", "'3.35 TB/s', '900 GB/s', '16 Gbit/s'", allow_binary=True
    )


def parse_frequency(text: str | float | int) -> float:
    """'1.83 GHz' -> 1.83e9."""
    if isinstance(text, int | float):
        return to_float(text)
    return _with_base(text, {"Hz": 1.0}, "frequency", "'1.83 GHz', '700 MHz'", allow_binary=False)


def parse_time(text: str | float | int) -> float:
    """'4 us' -> 4e-6 s."""
    if isinstance(text, int | float):
        return to_float(text)
    value, unit = _split(text, "time", "'4 us', '2.5 ms', '60 s'")
    if unit in _TIME:
        return value * _TIME[unit]
    raise QuantityError(f"{text!r}: unknown unit {unit!r} for a time; allowed s, ms, us, ns, min")


def _sub_si(text: str | float | int, base: str, dimension: str, examples: str) -> float:
    if isinstance(text, int | float):
        return to_float(text)
    value, unit = _split(text, dimension, examples)
    if unit == "":
        return value
    if unit.endswith(base):
        prefix = unit[: -len(base)]
        scale = _SUBUNIT.get(prefix, _DECIMAL.get(prefix))
        if scale is not None:
            return value * scale
    raise QuantityError(
        f"{text!r}: unknown unit {unit!r} for a {dimension}; allowed e.g. {examples}"
    )


def parse_power(text: str | float | int) -> float:
    """'700 W' -> 700.0; 'mW' and 'kW' work too."""
    return _sub_si(text, "W", "power", "'700 W', '350 mW'")


def parse_energy(text: str | float | int) -> float:
    """'0.5 pJ' -> 5e-13 J."""
    return _sub_si(text, "J", "energy", "'0.5 pJ', '20 nJ'")


def parse_temperature(text: str | float | int) -> float:
    """Degrees Celsius: '85 C' -> 85.0. Kelvin ('358 K') is converted to Celsius."""
    if isinstance(text, int | float):
        return to_float(text)
    value, unit = _split(text, "temperature", "'85 C', '358 K'")
    if unit in ("", "C", "°C", "degC"):
        return value
    if unit == "K":
        return value - 273.15
    raise QuantityError(f"{text!r}: unknown unit {unit!r} for a temperature; allowed C or K")


def parse_thermal_resistance(text: str | float | int) -> float:
    """'0.15 K/W' -> 0.15 (same as C/W)."""
    if isinstance(text, int | float):
        return to_float(text)
    value, unit = _split(text, "thermal resistance", "'0.15 K/W'")
    if unit in ("", "K/W", "C/W", "°C/W"):
        return value
    raise QuantityError(f"{text!r}: unknown unit {unit!r} for a thermal resistance; allowed K/W")


def parse_heat_capacity(text: str | float | int) -> float:
    """'150 J/K' -> 150.0."""
    if isinstance(text, int | float):
        return to_float(text)
    value, unit = _split(text, "heat capacity", "'150 J/K'")
    if unit in ("", "J/K", "J/C", "J/°C"):
        return value
    raise QuantityError(f"{text!r}: unknown unit {unit!r} for a heat capacity; allowed J/K")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")
    return value


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError(f"must be greater than zero, got {value:g}")
    return value


def _nonnegative(value: float) -> float:
    if not value >= 0:
        raise ValueError(f"must be zero or more, got {value:g}")
    return value


# Bounds of what a chip can be: a value outside one is a typo or a unit mix-up, and some
# would stall the simulation (a clock of 1e-300 Hz makes every kernel last 1e300 s; a
# latency of 1e15 s puts simulated time where a nanosecond no longer changes a float).
MAX_BYTES = 1e21  # a zettabyte
MAX_BANDWIDTH = 1e21  # a zettabyte per second
MIN_BANDWIDTH = 1e3  # a kilobyte per second: slower than any memory or link feeding a network
MAX_FREQUENCY = 1e12  # a terahertz
MIN_FREQUENCY = 1e3  # a kilohertz: slower than any clock that runs a network
MAX_LATENCY_S = 3600.0  # an hour: no launch, memory or link latency comes near it
MIN_PERIOD_S = 1e-6  # the thermal model's step; a microsecond resolves any heat sink
MAX_POWER_W = 1e9
MAX_ENERGY_J = 1.0  # per MAC or per byte: a joule is a billion times a real one
TEMPERATURE_C = (-273.15, 10_000.0)
MAX_THERMAL = 1e9  # K/W or J/K


def _range(low: float | None, high: float, unit: str):
    def check(value: float) -> float:
        if not value <= high:
            raise ValueError(
                f"{value:g} {unit} is not physically possible; it must be at most {high:g} {unit}"
            )
        if low is not None and not value >= low:
            raise ValueError(
                f"{value:g} {unit} is too small to simulate; it must be at least {low:g} {unit}"
            )
        return value

    return check


def _below(limit: float, unit: str):
    def check(value: float) -> float:
        if not value < limit:
            raise ValueError(
                f"{value:g} {unit} is not physically possible; it must be below {limit:g} {unit}"
            )
        return value

    return check


def reject_bool(value):
    """YAML reads `true`/`yes`/`on` as booleans; they are not quantities (nor 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {value!r}")
    return value


def check_flag(value: object) -> bool:
    """A yes/no field takes `true` or `false` only. YAML's own booleans arrive as bools;
    a string ('yes', 'false'), a number (1, 0) or null is refused, where pydantic would
    read 'no' as false and 1 as true in silence."""
    if not isinstance(value, bool):
        raise ValueError(
            f"must be true or false, got {type(value).__name__} {_shown(value)} (write "
            "true or false without quotes)"
        )
    return value


# every yes/no field of a chip, system, graph or simulation option (tests/test_flags.py)
Flag = Annotated[bool, BeforeValidator(check_flag)]


def _physical(parse, check, limit=None):
    if limit is None:
        return BeforeValidator(lambda v: check(_finite(parse(reject_bool(v)))))
    return BeforeValidator(lambda v: limit(check(_finite(parse(reject_bool(v))))))


Bytes = Annotated[float, _physical(parse_bytes, _positive, _below(MAX_BYTES, "B"))]
_bandwidth_floor = _range(MIN_BANDWIDTH, math.inf, "B/s")
_bandwidth_ceiling = _below(MAX_BANDWIDTH, "B/s")
Bandwidth = Annotated[
    float,
    _physical(parse_bandwidth, _positive, lambda v: _bandwidth_ceiling(_bandwidth_floor(v))),
]
_clock_floor = _range(MIN_FREQUENCY, math.inf, "Hz")
_clock_ceiling = _below(MAX_FREQUENCY, "Hz")
Frequency = Annotated[
    float, _physical(parse_frequency, _positive, lambda v: _clock_ceiling(_clock_floor(v)))
]
# a latency or overhead: zero or more, at most an hour
Seconds = Annotated[float, _physical(parse_time, _nonnegative, _range(None, MAX_LATENCY_S, "s"))]
# a period: more than zero, from a microsecond to an hour
PositiveSeconds = Annotated[
    float, _physical(parse_time, _positive, _range(MIN_PERIOD_S, MAX_LATENCY_S, "s"))
]
Watts = Annotated[float, _physical(parse_power, _nonnegative, _range(None, MAX_POWER_W, "W"))]
Joules = Annotated[float, _physical(parse_energy, _nonnegative, _range(None, MAX_ENERGY_J, "J"))]
Celsius = Annotated[float, _physical(parse_temperature, lambda v: v, _range(*TEMPERATURE_C, "C"))]
KelvinPerWatt = Annotated[
    float, _physical(parse_thermal_resistance, _positive, _range(None, MAX_THERMAL, "K/W"))
]
JoulesPerKelvin = Annotated[
    float, _physical(parse_heat_capacity, _positive, _range(None, MAX_THERMAL, "J/K"))
]

# Names reach terminals, JSON, traces, plots and file names: printable characters only
# (no control characters, no lone surrogates, which no encoder can write) and a length a
# file name can hold. Markup characters ([bold], $x$) are allowed and escaped when drawn.
MAX_NAME_CHARS = 255
MAX_TEXT_CHARS = 10_000


def check_name(value: str, what: str = "a name") -> str:
    """`value` if it is a usable name, else a ValueError saying what is wrong."""
    if not value.strip():  # an empty name draws as nothing in every table and trace
        raise ValueError(f"{what} must not be empty or only spaces")
    if len(value) > MAX_NAME_CHARS:
        raise ValueError(
            f"{what} is at most {MAX_NAME_CHARS} characters, got {len(value)} ({value[:40]!r}...)"
        )
    if not value.isprintable():
        bad = next(ch for ch in value if not ch.isprintable())
        readable = value[:60].encode("utf-8", "backslashreplace").decode("utf-8")
        raise ValueError(
            f"{what} may hold printable characters only, got U+{ord(bad):04X} in {readable!r}"
        )
    return value


def check_text(value: str) -> str:
    """Free text (a description, a source): any line breaks, no lone surrogates."""
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"text is at most {MAX_TEXT_CHARS:,} characters, got {len(value):,}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"text holds a lone surrogate (U+{ord(value[exc.start]):04X}), which is not a "
            "character; save the file as UTF-8"
        ) from None
    return value


Name = Annotated[str, AfterValidator(check_name)]
Text = Annotated[str, AfterValidator(check_text)]


# decimal SI prefixes, largest first ("u" for micro: plain ASCII for terminals and files)
SI_PREFIXES: tuple[tuple[str, float], ...] = (
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
)


def format_si(value: float, unit: str, binary: bool = False) -> str:
    """3.35e12, 'B/s' -> '3.35 TB/s'; binary=True uses KiB/MiB/GiB."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    if binary:
        for prefix, scale in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {prefix}{unit}"
        return f"{value:.3g} {unit}"
    for prefix, scale in SI_PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value / 1e-12:.3g} p{unit}"
