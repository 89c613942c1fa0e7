"""Number and text formats shared by the renderers."""

from __future__ import annotations

import math

from rich.text import Text

from hardware.quantity import SI_PREFIXES, format_si

BAR_WIDTH = 30


def ops_rate(value: float) -> str:
    """Ops/s as TOP/s (or GOP/s below one TOP/s)."""
    if value >= 1e12:
        return f"{value / 1e12:.3g} TOP/s"
    return f"{value / 1e9:.3g} GOP/s"


# figures may print the micro sign
PREFIXES = tuple(("µ" if prefix == "u" else prefix, scale) for prefix, scale in SI_PREFIXES)


def engineering(value: float, unit: str, digits: int = 3) -> str:
    """A value with an SI prefix, as a figure shows it: 3.35e12, 'B/s' -> '3.35 TB/s';
    2.5e-5, 's' -> '25 µs'; 0 -> '0 B/s'. Three significant digits, no exponent."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for prefix, scale in PREFIXES:
        if abs(value) >= scale * (1 - 1e-9):
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value / 1e-12:.{digits}g} p{unit}"


def seconds(value: float) -> str:
    return format_si(value, "s")


def per_second(value: float, what: str = "items") -> str:
    """1187.3 -> '1,187 items/s'; 53970 -> '53,970 items/s'; 0.25 -> '0.25 items/s'."""
    return f"{value:,.0f} {what}/s" if value >= 100 else f"{value:.3g} {what}/s"


def percent(fraction: float) -> str:
    """One decimal, or two below 1% so small shares do not read as zero."""
    return f"{fraction:.2%}" if 0 < fraction < 0.01 else f"{fraction:.1%}"


def bar(fraction: float, width: int = BAR_WIDTH, style: str = "red") -> Text:
    """A horizontal bar: `fraction` of `width` cells, drawn with eighth blocks."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return Text(text.ljust(width), style=style)


def short(name: str, limit: int = 32) -> str:
    """`name` cut to `limit` characters, an ellipsis marking the cut."""
    return name if len(name) <= limit else name[: limit - 1] + "…"
