"""Unit strings parse once to SI floats; decimal prefixes are 1000s, binary ones 1024s."""

from __future__ import annotations

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from hardware.quantity import (
    Bandwidth,
    Bytes,
    Celsius,
    QuantityError,
    Seconds,
    format_si,
    parse_bandwidth,
    parse_bytes,
    parse_energy,
    parse_frequency,
    parse_heat_capacity,
    parse_power,
    parse_temperature,
    parse_thermal_resistance,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.35 TB/s", 3.35e12),
        ("900 GB/s", 900e9),
        ("900GB/s", 900e9),
        ("1 TiB/s", 2.0**40),
        ("2 GiB/s", 2 * 2.0**30),
        ("16 Gbit/s", 2e9),
        ("8 Gbps", 1e9),
        ("1 kB/s", 1e3),
        ("1 KiB/s", 1024.0),
    ],
)
def test_bandwidth_decimal_and_binary_prefixes(text: str, expected: float) -> None:
    assert parse_bandwidth(text) == pytest.approx(expected, rel=1e-15)


def test_terabytes_and_tebibytes_differ_by_ten_percent() -> None:
    ratio = parse_bandwidth("1 TiB/s") / parse_bandwidth("1 TB/s")
    assert ratio == pytest.approx(1.099511627776)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50 MiB", 50 * 2**20),
        ("512 KiB", 512 * 1024),
        ("80 GB", 80e9),
        ("1 GiB", 2**30),
        ("1 KB", 1000),
        ("100 bytes", 100),
        ("100 B", 100),
    ],
)
def test_bytes(text: str, expected: float) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_frequency, "1.83 GHz", 1.83e9),
        (parse_frequency, "700 MHz", 700e6),
        (parse_frequency, "1 kHz", 1e3),
        (parse_time, "4 us", 4e-6),
        (parse_time, "4 µs", 4e-6),
        (parse_time, "2.5 ms", 2.5e-3),
        (parse_time, "100 ns", 100e-9),
        (parse_time, "1 min", 60.0),
        (parse_time, "60 s", 60.0),
        (parse_power, "700 W", 700.0),
        (parse_power, "350 mW", 0.35),
        (parse_power, "1.5 kW", 1500.0),
        (parse_energy, "0.5 pJ", 0.5e-12),
        (parse_energy, "20 nJ", 20e-9),
        (parse_temperature, "85 C", 85.0),
        (parse_temperature, "85 °C", 85.0),
        (parse_temperature, "358.15 K", 85.0),
        (parse_thermal_resistance, "0.15 K/W", 0.15),
        (parse_thermal_resistance, "0.15 C/W", 0.15),
        (parse_heat_capacity, "150 J/K", 150.0),
    ],
)
def test_other_dimensions(parse, text: str, expected: float) -> None:
    assert parse(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "parse",
    [
        parse_bytes,
        parse_bandwidth,
        parse_frequency,
        parse_time,
        parse_power,
        parse_energy,
        parse_temperature,
        parse_thermal_resistance,
        parse_heat_capacity,
    ],
)
def test_bare_numbers_are_already_si(parse) -> None:
    assert parse(42) == 42.0
    assert parse(2.5) == 2.5
    assert parse("42") == 42.0
    assert parse("1e3") == 1000.0


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_bandwidth, ""),
        (parse_bandwidth, "fast"),
        (parse_bandwidth, "GB/s"),
        (parse_bandwidth, "10 parsecs"),
        (parse_bandwidth, "3.35 TB/hour"),
        (parse_bandwidth, "1 XB/s"),
        (parse_bytes, "10 mB"),
        (parse_bytes, "1 2 MiB"),
        (parse_frequency, "1 GiHz"),
        (parse_frequency, "1 GHz/s"),
        (parse_time, "4 years"),
        (parse_time, "4 uS"),
        (parse_power, "700 V"),
        (parse_energy, "1 pW"),
        (parse_temperature, "85 F"),
        (parse_thermal_resistance, "0.15 W/K"),
        (parse_heat_capacity, "150 J"),
    ],
)
def test_bad_strings_raise_quantity_error(parse, text: str) -> None:
    with pytest.raises(QuantityError):
        parse(text)


def test_quantity_error_says_what_is_allowed() -> None:
    with pytest.raises(QuantityError, match="TB/s"):
        parse_bandwidth("10 parsecs")


@pytest.mark.parametrize(
    "value", ["-1 GB/s", "0 GB/s", 0, -5.0, "nan GB/s", float("nan"), float("inf"), "inf TB/s"]
)
def test_bandwidth_type_rejects_unphysical_values(value) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Bandwidth).validate_python(value)


def test_quantity_types_parse_to_si() -> None:
    assert TypeAdapter(Bytes).validate_python("50 MiB") == 50 * 2**20
    assert TypeAdapter(Seconds).validate_python("0 s") == 0.0
    assert TypeAdapter(Celsius).validate_python("-10 C") == -10.0
    with pytest.raises(ValidationError):
        TypeAdapter(Seconds).validate_python("-1 us")
    with pytest.raises(ValidationError):
        TypeAdapter(Bytes).validate_python("0 B")


@pytest.mark.parametrize(
    ("value", "unit", "binary", "text"),
    [
        (3.35e12, "B/s", False, "3.35 TB/s"),
        (10e9, "B/s", False, "10 GB/s"),
        (50 * 2**20, "B", True, "50 MiB"),
        (100, "B", True, "100 B"),
        (4e-6, "s", False, "4 us"),
        (0.5e-12, "J", False, "0.5 pJ"),
        (0.0, "s", False, "0 s"),
    ],
)
def test_format_si(value: float, unit: str, binary: bool, text: str) -> None:
    assert format_si(value, unit, binary=binary) == text


def test_format_si_of_non_finite_values() -> None:
    assert format_si(math.inf, "B/s") == "inf B/s"
