"""Seeded joint samples of what a prediction is not sure of.

Two things are uncertain in a chipdse number:

* the chip's **numbers with a range** (:func:`microarch.vary.varied_numbers`): an assumption is
  drawn from its stated range with its stated value as the median (uniform on each side); a
  fitted term from a split normal whose 5-95 % interval is its stated range (in logit space for
  an efficiency, in log space for another positive number, so that no draw leaves the values the
  number can take), fitted terms of one family jointly through the correlations of the fit (a
  Gaussian copula). A family term is one draw shared by every chip of the family (and of
  families inheriting it), so comparing two chips of a family is not blurred by terms they
  share; a chip file's own numbers are drawn per chip, except on the chip a family was fitted
  to: the fit conditions on that chip's stated numbers (it fixes the product of an assumed peak
  and its efficiency, not either alone), so there they are held and their uncertainty is the
  fitted terms' and the prediction error's.
* the cost model's **prediction error**: a log-normal factor on each phase's time, with the
  spread measured by cross-validation (``prediction_error`` of the family in
  ``families.yaml``): left-one-model-out on the family's calibration chip, left-one-device-out
  on every other chip (a sibling, a variant, a new design). One factor per family, role and
  phase is shared by the chips it applies to (a common-mode error).

:func:`draw` returns both for a set of chips; ``chipdse.api.estimate(..., uncertainty=N)``
and the studies evaluate on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chipdse.calibrate.measurements import CALIBRATION_CHIPS
from microarch.chip import Chip
from microarch.loader import load_families, split_mode
from microarch.vary import FIT_SOURCE, Varied, is_fraction, settable, varied_numbers, vary

__all__ = ["Draws", "draw", "draw_family", "family_numbers", "fitted_on", "prediction_error",
           "PHASES", "DEFAULT_SAMPLES", "Z90", "uncertain_numbers", "percentiles"]

PHASES = ("prefill", "decode")
DEFAULT_SAMPLES = 1000
Z90 = 1.6448536269514722  # standard-normal 95 % quantile: a 5-95 % interval is +-Z90 sigma


def uncertain_numbers(chip: Chip) -> list[Varied]:
    """The numbers of ``chip`` whose uncertainty is sampled."""
    return varied_numbers(chip)


def _fallback_error() -> dict[str, float]:
    """Largest left-one-device-out spread of any family, per phase: the error of a family
    with no rows of its own (it has no cross-validation to state one)."""
    out = {p: 0.0 for p in PHASES}
    for fam in load_families().values():
        for p, v in fam.get("prediction_error", {}).get("transfer", {}).items():
            out[p] = max(out[p], float(v))
    return out


def prediction_error(chip: Chip) -> tuple[str, dict[str, float]]:
    """(role, {phase: sigma of ln time}) of the cost model's error on ``chip``: its family's
    ``calibration`` spread if it is the family's calibration chip, else its ``transfer``
    spread (or, for a family without one, the largest of any family)."""
    base = split_mode(chip.name)[0]
    role = "calibration" if base in CALIBRATION_CHIPS else "transfer"
    errs = load_families().get(chip.family, {}).get("prediction_error", {})
    sig = errs.get(role) or errs.get("transfer") or _fallback_error()
    return role, {p: float(sig.get(p, 0.0)) for p in PHASES}


@dataclass(frozen=True)
class Draws:
    """``n`` joint draws for some chips.

    Attributes:
        n / seed: how many, and the seed they derive from.
        chips: chip name -> its ``n`` sampled chips (numbers with a range drawn).
        time_factor: chip name -> phase -> ``n`` multiplicative factors on the phase's time
            (the prediction error; all ones when it is not drawn).
        values: draw key -> the ``n`` values drawn (SI); a family term's key is its path
            (``family:thor.efficiency.dram``), a chip number's is ``chip:path``.
        numbers: draw key -> the :class:`Varied` it was drawn for.
    """

    n: int
    seed: int
    chips: dict[str, list[Chip]]
    time_factor: dict[str, dict[str, np.ndarray]]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, Varied] = field(default_factory=dict)


def _key(chip: Chip, v: Varied) -> str:
    return v.path if v.family_term else f"{chip.name}:{v.path}"


def _correlation(keys: list[str], pairs: Mapping[tuple[str, str], float]) -> np.ndarray:
    """Correlation matrix of ``keys`` from the stated pairs, made positive semi-definite."""
    n = len(keys)
    r = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            c = pairs.get((keys[i], keys[j]), pairs.get((keys[j], keys[i]), 0.0))
            r[i, j] = r[j, i] = c
    lam, vec = np.linalg.eigh(r)
    r = (vec * np.maximum(lam, 1e-6)) @ vec.T
    d = np.sqrt(np.diag(r))
    return r / np.outer(d, d)


def _logit(x: float) -> float:
    return float(np.log(x / (1.0 - x)))


def _fitted_draws(specs: list[Varied], z: np.ndarray) -> np.ndarray:
    """Split-normal draws (rows: specs) from standard normals ``z``, with the nominal value as
    median and the stated range as the 5-95 % interval. The normal lives where the number
    does: in logit space for a fraction inside (0, 1) (an efficiency cannot leave it), in log
    space for a positive number, linear (and floored at 0) for a range that touches 0."""
    out = np.empty_like(z)
    for i, v in enumerate(specs):
        if is_fraction(v.path) and 0.0 < v.low <= v.nominal <= v.high < 1.0:
            fwd, inv = _logit, lambda u: 1.0 / (1.0 + np.exp(-u))
        elif 0.0 < v.low <= v.nominal:
            fwd, inv = (lambda x: float(np.log(x))), np.exp
        else:
            fwd, inv = float, (lambda u: np.maximum(u, 0.0))
        c = fwd(v.nominal)
        lo_sd, hi_sd = (c - fwd(v.low)) / Z90, (fwd(v.high) - c) / Z90
        out[i] = inv(c + np.where(z[i] < 0, lo_sd, hi_sd) * z[i])
    return out


def fitted_on(chip: Chip) -> bool:
    """True for the chip its family's terms were fitted to (it has a calibration spread)."""
    role, _ = prediction_error(chip)
    fam = load_families().get(chip.family, {})
    return role == "calibration" and "calibration" in fam.get("prediction_error", {})


def _drawn(chip: Chip) -> list[Varied]:
    """The numbers drawn for ``chip``: all of them, or only its family terms on the chip the
    family was fitted to (see the module docstring)."""
    nums = varied_numbers(chip)
    return [v for v in nums if v.family_term] if fitted_on(chip) else nums


def _family_of_path(path: str) -> str:
    return path.split(":", 1)[1].split(".", 1)[0]


def draw(chips: Sequence[Chip], n: int = DEFAULT_SAMPLES, seed: int = 0,
         prediction: bool = True) -> Draws:
    """``n`` seeded joint draws of every chip's uncertain numbers and (with ``prediction``)
    of the prediction error (see the module docstring)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    specs: dict[str, Varied] = {}
    for c in chips:
        for v in _drawn(c):
            specs.setdefault(_key(c, v), v)
    values = _sample(specs, n, rng)
    sampled: dict[str, list[Chip]] = {}
    for c in chips:
        mine = {v.path: values[_key(c, v)] for v in _drawn(c)}
        sampled[c.name] = [vary(c, {p: float(col[i]) for p, col in mine.items()})
                           for i in range(n)]
    factors: dict[str, dict[str, np.ndarray]] = {}
    shared: dict[tuple[str, str, str], np.ndarray] = {}
    for c in chips:
        role, sig = prediction_error(c)
        factors[c.name] = {}
        for p in PHASES:
            if not prediction or sig[p] <= 0:
                factors[c.name][p] = np.ones(n)
                continue
            key = (c.family, role, p)
            if key not in shared:
                shared[key] = np.exp(sig[p] * rng.standard_normal(n))
            factors[c.name][p] = shared[key]
    return Draws(n, seed, sampled, factors, values, specs)


def family_numbers(family: str) -> list[Varied]:
    """The ranged terms of a family entry of ``families.yaml`` (for a chip built from a
    template of the family rather than loaded from a file)."""
    fam = load_families()[family]
    out = []
    for k, span in fam.get("ranges", {}).items():
        path = f"family:{k}"
        local = k.split(".", 1)[1]
        if not settable(local):
            continue
        src = fam["sources"].get(k, "")
        out.append(Varied(path, span.nominal, span.low, span.high,
                          src.startswith("source:") and FIT_SOURCE in src, src))
    return sorted(out, key=lambda v: v.path)


def draw_family(family: str, n: int = DEFAULT_SAMPLES, seed: int = 0,
                prediction: bool = True) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
    """``n`` seeded draws of a family's ranged terms, as ``{local path: value}`` per draw
    (``efficiency.dram``, ...), and the prediction-error time factors per phase (its
    ``transfer`` spread: a design built from the family is not its calibration chip)."""
    rng = np.random.default_rng(seed)
    specs = {v.path: v for v in family_numbers(family)}
    values = _sample(specs, n, rng)
    draws = [{k.split(".", 1)[1]: float(col[i]) for k, col in values.items()} for i in range(n)]
    errs = load_families()[family].get("prediction_error", {})
    sig = errs.get("transfer") or _fallback_error()
    factors = {p: (np.exp(float(sig.get(p, 0.0)) * rng.standard_normal(n)) if prediction
                   else np.ones(n)) for p in PHASES}
    return draws, factors


def _sample(specs: Mapping[str, Varied], n: int, rng: np.random.Generator
            ) -> dict[str, np.ndarray]:
    """Draws of every spec (see the module docstring)."""
    keys = sorted(specs)
    values: dict[str, np.ndarray] = {}
    fitted = [k for k in keys if specs[k].fitted]
    if fitted:
        pairs: dict[tuple[str, str], float] = {}
        fams = load_families()
        for fam in sorted({_family_of_path(k) for k in fitted if specs[k].family_term}):
            for a, b, r in fams.get(fam, {}).get("correlations", []):
                pairs[(f"family:{fam}.{a}", f"family:{fam}.{b}")] = r
        z = np.linalg.cholesky(_correlation(fitted, pairs)) @ rng.standard_normal(
            (len(fitted), n))
        for k, row in zip(fitted, _fitted_draws([specs[k] for k in fitted], z)):
            values[k] = row
    for k in keys:
        if k not in values:
            values[k] = _assumed_draws(specs[k], rng.uniform(0.0, 1.0, n))
    return values


def _assumed_draws(v: Varied, u: np.ndarray) -> np.ndarray:
    """An assumption's draws from uniforms ``u``: half uniform between its low end and its
    value, half between its value and its high end, so that the value a preset states stays
    the median (a range that is not centred on its value does not shift every band)."""
    below = v.low + 2.0 * u * (v.nominal - v.low)
    above = v.nominal + (2.0 * u - 1.0) * (v.high - v.nominal)
    return np.where(u < 0.5, below, above)


def percentiles(x: np.ndarray, qs: Sequence[float] = (5, 50, 95)) -> tuple[float, ...]:
    """Percentiles of ``x`` (NaN-safe)."""
    return tuple(float(v) for v in np.nanpercentile(np.asarray(x, dtype=float), qs))
