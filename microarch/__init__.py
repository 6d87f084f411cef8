"""microarch: what a chip is.

Numeric formats, the chip schema (frozen dataclasses), strict YAML loading with validation,
built-in presets (each number with its public source) and the energy / area / power model.
A leaf package: it imports nothing else of chipdse's.
"""

from microarch.chip import Chip
from microarch.formats import FORMATS, NumericFormat, get_format
from microarch.loader import list_chips, load_chip
from microarch.schema import SpecError

__all__ = ["Chip", "FORMATS", "NumericFormat", "get_format", "list_chips", "load_chip",
           "SpecError"]
