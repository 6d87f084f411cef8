"""Numeric formats: element widths, block-scale overheads, and how formats relate.

Storage cost is ``bits`` per element plus the amortised bits of any per-block scale
(NVFP4: one FP8 E4M3 scale per 16 elements = 0.5 bit/element; MXFP4: one E8M0 scale per 32
elements = 0.25 bit/element; group-quantised INT4: one FP16 scale per 128 elements =
0.125 bit/element). Sources: NVIDIA, "Introducing NVFP4" (developer.nvidia.com/blog, 2025);
OCP Microscaling Formats (MX) v1.0 specification (2023); AWQ, arXiv 2306.00978 (group size 128).
"""

from __future__ import annotations

from dataclasses import dataclass

from microarch.excerpt import excerpt

__all__ = ["NumericFormat", "FORMATS", "ALIASES", "get_format", "FORMAT_ORDER"]


@dataclass(frozen=True)
class NumericFormat:
    """One numeric format.

    Attributes:
        name: canonical lower-case name ("fp16", "nvfp4", ...).
        bits: bits of one element's payload.
        scale_bits_per_element: amortised bits of block/group scales (0 for plain formats).
        is_float: floating-point (True) or integer (False).
    """

    name: str
    bits: int
    scale_bits_per_element: float = 0.0
    is_float: bool = True

    def __post_init__(self) -> None:
        if self.bits <= 0:
            raise ValueError(f"NumericFormat {self.name}: bits must be > 0, got {self.bits}")
        if self.scale_bits_per_element < 0:
            raise ValueError(f"NumericFormat {self.name}: scale_bits_per_element must be >= 0")

    @property
    def bytes_per_element(self) -> float:
        """Storage bytes per element, scales included."""
        return (self.bits + self.scale_bits_per_element) / 8.0


FORMATS: dict[str, NumericFormat] = {
    f.name: f
    for f in (
        NumericFormat("fp32", 32),
        NumericFormat("bf16", 16),
        NumericFormat("fp16", 16),
        NumericFormat("fp8", 8),
        NumericFormat("int8", 8, is_float=False),
        NumericFormat("int4", 4, scale_bits_per_element=16 / 128, is_float=False),
        NumericFormat("nvfp4", 4, scale_bits_per_element=8 / 16),
        NumericFormat("mxfp4", 4, scale_bits_per_element=8 / 32),
    )
}
ALIASES: dict[str, str] = {"fp4": "nvfp4", "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
            "float32": "fp32", "e4m3": "fp8", "fp8_e4m3": "fp8", "w4": "int4"}

# Widest first: a matrix engine lacking a format falls back towards the front of this list.
FORMAT_ORDER: tuple[str, ...] = ("fp32", "fp16", "bf16", "fp8", "int8", "mxfp4", "nvfp4", "int4")


def get_format(name: str) -> NumericFormat:
    """Look a format up by name or alias; raises ``KeyError`` naming the known formats."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise KeyError(f"unknown numeric format {excerpt(name)} (known: {', '.join(FORMATS)}, fp4)")
    return FORMATS[key]
