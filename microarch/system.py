"""Multi-chip systems: N identical chips on one board joined by a link (two M100s in the Li L9,
dual DRIVE Orin-X or Thor-U boards), and how a workload is split across them.

A system file names its chip (a preset or a chip file), the number of chips, the link and the
default split:

* ``tensor``: every layer's heads, FFN columns and vocabulary are divided across the chips
  (Megatron-style tensor parallelism); two all-reduces of the activations per layer cross the
  link (ring all-reduce);
* ``stream``: whole streams of a trace are placed on chips (e.g. perception on one, the VLA on
  the other); streams on different chips do not contend.

The link carries a bandwidth per direction, a per-transfer latency and an energy per byte,
each sourced or an assumption with a range, as chip numbers are. Presets live in
``presets/systems``."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from microarch.chip import Chip
from microarch.excerpt import excerpt
from microarch.schema import Reader, SpecError, load_yaml

__all__ = ["Link", "System", "SPLITS", "load_system", "list_systems", "system_from_dict"]

SPLITS = ("tensor", "stream")


@dataclass(frozen=True)
class Link:
    """The chip-to-chip link.

    Attributes:
        name: what it is (``PCIe Gen4 x8``).
        bandwidth_bytes_per_s: bandwidth per direction (> 0; ``inf`` for an ideal link).
        latency_s: fixed cost of one transfer (>= 0).
        energy_j_per_byte: energy to move one byte across it (>= 0).
    """

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float = 0.0
    energy_j_per_byte: float = 0.0

    def __post_init__(self) -> None:
        if not self.bandwidth_bytes_per_s > 0:
            raise ValueError(f"Link.bandwidth_bytes_per_s must be > 0, got "
                             f"{excerpt(self.bandwidth_bytes_per_s)}")
        for k in ("latency_s", "energy_j_per_byte"):
            v = getattr(self, k)
            if not v >= 0:
                raise ValueError(f"Link.{k} must be >= 0, got {excerpt(v)}")

    def transfer_s(self, nbytes: float) -> float:
        """Time of one transfer of ``nbytes``."""
        return self.latency_s + nbytes / self.bandwidth_bytes_per_s


@dataclass(frozen=True)
class System:
    """N identical chips and the link between them.

    Attributes:
        name / description: labels.
        chip: the chip (every chip of the system is this one).
        count: chips (>= 1).
        link: the link between them.
        split: the default split (:data:`SPLITS`).
        placement: for the ``stream`` split, stream name -> chip index (streams not named go
            to chip 0).
        sources: field -> source or assumption, as read.
    """

    name: str
    chip: Chip
    count: int
    link: Link
    split: str = "tensor"
    description: str = ""
    placement: Any = field(default_factory=dict)
    sources: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and self.count >= 1):
            raise ValueError(f"System.count must be an integer >= 1, got {excerpt(self.count)}")
        if self.split not in SPLITS:
            raise ValueError(f"System.split must be one of {', '.join(SPLITS)}, got "
                             f"{excerpt(self.split)}")
        bad = {k: v for k, v in dict(self.placement).items()
               if not (isinstance(v, int) and 0 <= v < self.count)}
        if bad:
            raise ValueError(f"System.placement: chip indices must be 0-{self.count - 1}, got "
                             f"{excerpt(bad)}")
        object.__setattr__(self, "placement", MappingProxyType(dict(self.placement)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))


def _system_dir() -> Path:
    return Path(str(resources.files("microarch"))) / "presets" / "systems"


def list_systems() -> list[str]:
    """Names of the built-in system presets."""
    return sorted(p.stem for p in _system_dir().glob("*.yaml"))


def system_from_dict(data: Any, file: str = "<system>", base_dir: Path | None = None) -> System:
    """A :class:`System` from parsed YAML; every problem is reported with the file and the
    field path (the chip is loaded with the chip loader, relative paths from ``base_dir``)."""
    from microarch.loader import load_chip

    errors: list[str] = []
    r = Reader(data, file, errors=errors)
    name = r.string("name")
    description = r.string("description", required=False, default="")
    chip_ref = r.string("chip")
    count = r.number("count", integer=True, positive=True, high=64)
    split = r.string("split", required=False, default="tensor", choices=SPLITS)
    lr = r.child("link", required=True)
    link = None
    if lr is not None:
        lname = lr.string("name")
        bw = lr.quantity("bandwidth", "bytes_per_s", positive=True)
        lat = lr.quantity("latency", "s", required=False, default=0.0)
        epb = lr.quantity("energy_per_byte", "j_per_byte", required=False, default=0.0)
        lr.finish()
        if lname is not None and bw is not None:
            link = Link(lname, bw, lat, epb)
    placement = {}
    pr = r.child("placement")
    if pr is not None:
        for k in list(pr.data):
            v = pr.number(k, integer=True)
            if v is not None:
                placement[str(k)] = int(v)
        pr.finish()
    r.finish()
    chip = None
    if chip_ref is not None:
        ref = chip_ref
        if base_dir is not None and ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute():
            ref = str(base_dir / ref)
        try:
            chip = load_chip(ref)
        except SpecError as exc:
            errors.extend(f"{file}: chip: {e}" for e in exc.errors)
    if errors:
        raise SpecError(errors)
    try:
        return System(name=name, chip=chip, count=int(count), link=link, split=split,
                      description=description, placement=placement, sources=dict(r.sources))
    except ValueError as exc:
        raise SpecError([f"{file}: {exc}"]) from None


def load_system(name_or_path: str | Path) -> System:
    """A system from a preset name or a YAML file path."""
    s = str(name_or_path)
    p = Path(s)
    if s.endswith((".yaml", ".yml")) or p.is_file():
        if not p.is_file():
            raise SpecError([f"{p.name}: no such system file"])
        return system_from_dict(load_yaml(p), p.name, base_dir=p.parent)
    preset = _system_dir() / f"{s}.yaml"
    if not preset.is_file():
        from microarch.loader import did_you_mean

        raise SpecError([f"unknown system {excerpt(s)}{did_you_mean(s, list_systems())} "
                         f"(built-in: {', '.join(list_systems())}; or give a system .yaml "
                         "file)"])
    return system_from_dict(load_yaml(preset), preset.name, base_dir=preset.parent)
