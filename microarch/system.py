"""Multi-chip systems: N identical chips on one board joined by a link (two M100s in the Li L9,
dual DRIVE Orin-X or Thor-U boards), and how a workload is split across them.

A system file names its chip (a preset or a chip file), the number of chips, the link and the
default split:

* ``tensor``: every layer's heads, FFN columns and vocabulary are divided across the chips
  (Megatron-style tensor parallelism); two all-reduces of the activations per layer cross the
  link (ring all-reduce);
* ``pipeline``: the layers are divided into ``count`` stages of consecutive layers, one per chip
  (the first also embeds the tokens, the last holds the final norm and the LM head); the
  activations cross the link at every stage boundary (``pipeline.stage_layers`` fixes the
  layers per stage, default as even as the layer count allows; ``pipeline.prefill_chunks``
  splits the prompt into chunks that flow through the stages one after another;
  ``pipeline.streams`` is how many requests are in flight for the throughput figures);
* ``stream``: whole streams of a trace are placed on chips (e.g. perception on one, the VLA on
  the other); streams on different chips do not contend.

The link carries a raw bandwidth per direction, a protocol efficiency (the share of it left for
payload: PCIe's TLP headers, framing and DLLPs), a per-transfer latency and an energy per byte,
each sourced or an assumption with a range, as chip numbers are; the ranges are kept
(:attr:`Link.ranges`) and drawn by ``chipdse.system``. ``overlap`` states how much of the link
time hides behind compute: ``none`` (the default and the conservative bound), ``full``, or a
fraction. Presets live in ``presets/systems``."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from microarch.chip import Chip
from microarch.excerpt import excerpt
from microarch.schema import Reader, SpecError, load_yaml

__all__ = ["Link", "System", "SPLITS", "OVERLAPS", "LINK_FIELDS", "load_system", "list_systems",
           "system_from_dict", "overlap_label"]

SPLITS = ("tensor", "pipeline", "stream")
OVERLAPS = {"none": 0.0, "full": 1.0}
"""Names ``overlap`` takes besides a fraction in [0, 1]."""
LINK_FIELDS = ("bandwidth_bytes_per_s", "latency_s", "energy_j_per_byte", "protocol_efficiency")
"""The link's numbers that may carry a range."""


@dataclass(frozen=True)
class Link:
    """The chip-to-chip link.

    Attributes:
        name: what it is (``PCIe Gen4 x8``).
        bandwidth_bytes_per_s: raw bandwidth per direction (> 0; ``inf`` for an ideal link).
        latency_s: fixed cost of one transfer (>= 0).
        energy_j_per_byte: energy to move one payload byte across it (>= 0).
        protocol_efficiency: share of the raw bandwidth left for payload (0 < x <= 1; PCIe
            loses 8-14 % to TLP headers, framing and DLLPs).
        ranges: field (:data:`LINK_FIELDS`) -> (low, high) of the numbers stated with a range.
    """

    name: str
    bandwidth_bytes_per_s: float
    latency_s: float = 0.0
    energy_j_per_byte: float = 0.0
    protocol_efficiency: float = 1.0
    ranges: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.bandwidth_bytes_per_s > 0:
            raise ValueError(f"Link.bandwidth_bytes_per_s must be > 0, got "
                             f"{excerpt(self.bandwidth_bytes_per_s)}")
        for k in ("latency_s", "energy_j_per_byte"):
            v = getattr(self, k)
            if not v >= 0:
                raise ValueError(f"Link.{k} must be >= 0, got {excerpt(v)}")
        if not 0.0 < self.protocol_efficiency <= 1.0:
            raise ValueError(f"Link.protocol_efficiency must be in (0, 1], got "
                             f"{excerpt(self.protocol_efficiency)}")
        ranges = {}
        for k, span in dict(self.ranges).items():
            if k not in LINK_FIELDS:
                raise ValueError(f"Link.ranges: unknown field {excerpt(k)} (one of "
                                 f"{', '.join(LINK_FIELDS)})")
            lo, hi = (float(x) for x in span)
            if not lo <= getattr(self, k) <= hi:
                raise ValueError(f"Link.ranges[{k}]: [{lo:g}, {hi:g}] must hold the value "
                                 f"{getattr(self, k):g}")
            ranges[k] = (lo, hi)
        object.__setattr__(self, "ranges", MappingProxyType(ranges))

    @property
    def payload_bytes_per_s(self) -> float:
        """Bandwidth left for payload: the raw bandwidth times the protocol efficiency."""
        return self.bandwidth_bytes_per_s * self.protocol_efficiency

    def transfer_s(self, nbytes: float) -> float:
        """Time of one transfer of ``nbytes`` of payload."""
        return self.latency_s + nbytes / self.payload_bytes_per_s


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
        overlap: share of the link time that hides behind compute, 0 (``none``, the default:
            an upper bound on the time) to 1 (``full``).
        stage_layers: for the ``pipeline`` split, layers per stage (one per chip; empty: as
            even as the model's layer count allows).
        prefill_chunks: for the ``pipeline`` split, chunks the prompt is cut into so that the
            stages work on different chunks at once (1: the whole prompt per stage).
        streams: for the ``pipeline`` split, requests in flight for the throughput figures
            (0: one per chip, enough to fill the pipeline).
        sources: field -> source or assumption, as read.
    """

    name: str
    chip: Chip
    count: int
    link: Link
    split: str = "tensor"
    description: str = ""
    placement: Any = field(default_factory=dict)
    overlap: float = 0.0
    stage_layers: tuple[int, ...] = ()
    prefill_chunks: int = 1
    streams: int = 0
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
        if isinstance(self.overlap, bool) or not (
                isinstance(self.overlap, (int, float)) and 0.0 <= self.overlap <= 1.0):
            raise ValueError(f"System.overlap must be a fraction in [0, 1], got "
                             f"{excerpt(self.overlap)}")
        layers = tuple(self.stage_layers)
        if layers and (len(layers) != self.count or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in layers)):
            raise ValueError(f"System.stage_layers must give {self.count} layer counts >= 1 "
                             f"(one stage per chip), got {excerpt(list(layers))}")
        for k in ("prefill_chunks", "streams"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "prefill_chunks"
                                                                     else 0):
                raise ValueError(f"System.{k} must be an integer >= "
                                 f"{1 if k == 'prefill_chunks' else 0}, got {excerpt(v)}")
        object.__setattr__(self, "overlap", float(self.overlap))
        object.__setattr__(self, "stage_layers", layers)
        object.__setattr__(self, "placement", MappingProxyType(dict(self.placement)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))


def overlap_label(overlap: float) -> str:
    """``none``, ``full`` or the fraction, as a system file writes it."""
    for name, v in OVERLAPS.items():
        if overlap == v:
            return name
    return f"{overlap:g}"


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
        eff = lr.number("protocol_efficiency", required=False, default=1.0, positive=True,
                        low=0.0, high=1.0)
        lr.finish()
        keys = dict(bandwidth="bandwidth_bytes_per_s", latency="latency_s",
                    energy_per_byte="energy_j_per_byte",
                    protocol_efficiency="protocol_efficiency")
        ranges = {f: (r.ranges[f"link.{k}"].low, r.ranges[f"link.{k}"].high)
                  for k, f in keys.items() if f"link.{k}" in r.ranges}
        if lname is not None and bw is not None:
            try:
                link = Link(lname, bw, lat, epb, eff, ranges)
            except ValueError as exc:
                errors.append(f"{file}: link: {exc}")
    overlap = _read_overlap(r)
    stage_layers: tuple[int, ...] = ()
    prefill_chunks, streams = 1, 0
    pr = r.child("pipeline")
    if pr is not None:
        stage_layers = _read_int_list(pr, "stage_layers")
        if stage_layers and count is not None and len(stage_layers) != count:
            pr.error(f"{len(stage_layers)} stages for {count} chips (one stage per chip)",
                     "stage_layers")
            stage_layers = ()
        prefill_chunks = pr.number("prefill_chunks", required=False, default=1, integer=True,
                                   positive=True, high=4096)
        streams = pr.number("streams", required=False, default=0, integer=True, high=4096)
        pr.finish()
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
                      description=description, placement=placement, overlap=overlap,
                      stage_layers=stage_layers, prefill_chunks=int(prefill_chunks),
                      streams=int(streams), sources=dict(r.sources))
    except ValueError as exc:
        raise SpecError([f"{file}: {exc}"]) from None


def _read_overlap(r: Reader) -> float:
    """``overlap``: ``none``, ``full`` or a fraction in [0, 1] (default ``none``)."""
    if isinstance(r.data.get("overlap"), str):
        name = r.string("overlap", choices=tuple(OVERLAPS))
        return OVERLAPS.get(name, 0.0) if name is not None else 0.0
    return r.number("overlap", required=False, default=0.0, low=0.0, high=1.0)


def _read_int_list(r: Reader, key: str) -> tuple[int, ...]:
    """A list of integers >= 1 (empty when absent)."""
    r.used.add(key)
    raw = r.data.get(key)
    if raw is None:
        return ()
    if not (isinstance(raw, list) and raw and all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in raw)):
        r.error(f"{excerpt(raw)} is not a list of integers >= 1", key)
        return ()
    return tuple(int(x) for x in raw)


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
