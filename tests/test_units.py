"""Quantity parsing at the file boundary: decimal vs binary prefixes, wrong dimensions."""

import pytest

from microarch.units import UnitError, parse_quantity


@pytest.mark.parametrize("text,dim,expected", [
    ("204.8 GB/s", "bytes_per_s", 204.8e9),
    ("1 GiB/s", "bytes_per_s", 2**30),
    ("64 GB", "bytes", 64e9),
    ("4 MiB", "bytes", 4 * 2**20),
    ("42.5 TFLOPS", "ops_per_s", 42.5e12),
    ("85 TOPS", "ops_per_s", 85e12),
    ("1.3 GHz", "hz", 1.3e9),
    ("100 ms", "s", 0.1),
    ("5 us", "s", 5e-6),
    ("60 W", "w", 60.0),
    ("415 mm2", "mm2", 415.0),
    ("4 pJ/B", "j_per_byte", 4e-12),
    (1.5e9, "hz", 1.5e9),
])
def test_parses_to_si(text, dim, expected):
    assert parse_quantity(text, dim) == pytest.approx(expected, rel=1e-12)


def test_gb_and_gib_differ():
    assert parse_quantity("1 GiB", "bytes") / parse_quantity("1 GB", "bytes") == pytest.approx(
        2**30 / 1e9)


@pytest.mark.parametrize("text,dim", [
    ("204.8 GB", "bytes_per_s"),   # a capacity where a bandwidth is expected
    ("100", "s"),                  # no unit
    ("fast", "hz"),
    ("3 parsecs", "s"),
    (True, "bytes"),
    ("1 Mi", "bytes"),
])
def test_rejects_wrong_units(text, dim):
    with pytest.raises(UnitError):
        parse_quantity(text, dim)


@pytest.mark.parametrize("value,dim,message", [
    ("x GHz", "hz", "'x GHz' is not a frequency (expected e.g. '1.3 GHz')"),
    ("1 GB", "bytes_per_s", "'1 GB' is not a bandwidth (expected e.g. '204.8 GB/s')"),
    ("64", "bytes", "'64' has no unit; a capacity needs one, e.g. '64 GB' or '4 MiB'"),
    (float("nan"), "w", "power must be finite, got nan"),
    (float("inf"), "bytes", "capacity must be finite, got inf"),
    ("1e400 GB/s", "bytes_per_s", "'1e400 GB/s' is out of range for a bandwidth"),
])
def test_error_messages(value, dim, message):
    with pytest.raises(UnitError) as exc:
        parse_quantity(value, dim)
    assert str(exc.value) == message


def test_plain_numbers_are_si_in_code_but_need_a_unit_in_files():
    assert parse_quantity(42.5e12, "ops_per_s") == 42.5e12
    assert parse_quantity(3, "s") == 3.0
    with pytest.raises(UnitError) as exc:
        parse_quantity(42.5, "ops_per_s", require_unit=True)
    assert str(exc.value) == "42.5 has no unit; a throughput needs one, e.g. '42.5 TFLOPS'"
    assert parse_quantity("42.5 TFLOPS", "ops_per_s", require_unit=True) == 42.5e12
