"""The saved state of a long search: every evaluated design so far and where the method stood.

A state is two files in the run directory, each written atomically: ``state.json`` (method,
generation or round, history, random-generator state, settings fingerprint) and
``state.npz`` (the archive of evaluated designs: index matrix and every score column). Both are
plain data: numpy reads the archive with ``allow_pickle=False`` and the JSON holds numbers,
strings and lists only, so no saved state can make the tool run code. NSGA-II resumes by
replaying its generations from the seed with the archived scores (no design is evaluated
twice), which restores the algorithm exactly; LHS resumes from its saved generator state.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chipdse import io
from chipdse.errors import UserError
from microarch.excerpt import excerpt
from microarch.schema import SpecError, load_json

__all__ = ["STATE_FILES", "STATE_VERSION", "Archive", "concat_scores", "fingerprint",
           "write_state", "read_state", "has_state"]

STATE_VERSION = 3  # 3: JSON + npz (no pickle); NSGA-II resumes by replay
_META, _ARRAYS = "state.json", "state.npz"
STATE_FILES = (_META, _ARRAYS)


def concat_scores(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Score dicts of consecutive batches as one."""
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class Archive:
    """Every evaluated design, in evaluation order, and a look-up of their scores."""

    def __init__(self) -> None:
        self.X: list[np.ndarray] = []
        self.scores: list[dict[str, np.ndarray]] = []
        self._index: dict[bytes, tuple[int, int]] | None = None

    def add(self, X: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        self.X.append(np.asarray(X, dtype=np.int64))
        self.scores.append(scores)
        self._index = None

    @property
    def n(self) -> int:
        return int(sum(len(x) for x in self.X))

    def merged(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not self.X:
            return np.zeros((0, 0), dtype=np.int64), {}
        return np.concatenate(self.X), concat_scores(self.scores)

    def lookup(self, X: np.ndarray) -> dict[str, np.ndarray] | None:
        """The archived scores of every row of ``X``, or None if one was never evaluated."""
        if self._index is None:
            self._index = {}
            for b, x in enumerate(self.X):
                for i, row in enumerate(np.asarray(x, dtype=np.int64)):
                    self._index.setdefault(row.tobytes(), (b, i))
        hits = [self._index.get(np.asarray(row, dtype=np.int64).tobytes())
                for row in np.atleast_2d(X)]
        if any(h is None for h in hits):
            return None
        keys = self.scores[0].keys()
        return {k: np.array([self.scores[b][k][i] for b, i in hits]) for k in keys}


def fingerprint(cfg: Mapping[str, Any]) -> str:
    """A short digest of everything that defines a run (problem, method and settings)."""
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(a: np.ndarray) -> np.ndarray:
    """An array numpy can store without pickling (object arrays of strings become str)."""
    a = np.asarray(a)
    if a.dtype == object:
        return a.astype(str)
    return a


def write_state(run_dir: Path | None, meta: dict[str, Any], archive: Archive) -> None:
    """Write the state (``meta`` must be JSON data) and the archive atomically."""
    if run_dir is None:
        return
    X, scores = archive.merged()
    arrays = {"X": X, **{f"score:{k}": _plain(v) for k, v in scores.items()}}
    with io.atomic_path(run_dir / _ARRAYS) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    # The JSON goes last: a state is complete once its JSON names the archive's size.
    io.write_json(run_dir / _META, {**meta, "version": STATE_VERSION, "archive_rows": len(X)})


def has_state(run_dir: Path) -> bool:
    return (run_dir / _META).exists()


# What each saved field must be (a damaged or hand-edited state is refused, not half-used).
_INT_FIELDS = ("generation", "round", "stable", "archive_rows")


def _bad_meta(meta: dict[str, Any]) -> str | None:
    """The first field of a saved state that is not what the search wrote, or None."""
    for k in _INT_FIELDS:
        if k in meta and (isinstance(meta[k], bool) or not isinstance(meta[k], int)
                          or meta[k] < 0):
            return k
    if "elapsed_s" in meta and not (isinstance(meta["elapsed_s"], (int, float))
                                    and math.isfinite(meta["elapsed_s"])):
        return "elapsed_s"
    h = meta.get("history", [])
    if not (isinstance(h, list) and all(isinstance(x, dict) for x in h)):
        return "history"
    s = meta.get("hv_scale")
    if s is not None and not (isinstance(s, dict) and all(
            isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
            for v in s.values())):
        return "hv_scale"
    r = meta.get("rng_state")
    if r is not None:
        try:
            np.random.default_rng().bit_generator.state = r
        except (TypeError, ValueError, KeyError):
            return "rng_state"
    return None


def read_state(run_dir: Path, fp: str, sizes: Any = None
               ) -> tuple[dict[str, Any], Archive] | None:
    """The saved (meta, archive) of ``run_dir``, None if it holds none; a state saved with
    other settings, by another version or damaged is one clear error. ``sizes``: the number
    of options of each search variable, to check the saved designs against."""
    p = run_dir / _META
    if not p.is_file():
        return None
    try:
        meta = load_json(p)
    except SpecError as exc:
        raise UserError(f"{exc}; start a new run") from None
    try:
        with np.load(run_dir / _ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{run_dir / _ARRAYS}: cannot read the saved search state "
                        f"({excerpt(str(exc))}); start a new run") from None
    if not isinstance(meta, dict) or meta.get("version") != STATE_VERSION:
        raise UserError(f"{p}: saved by another chipdse version; start a new run")
    if meta.get("fingerprint") != fp:
        raise UserError(f"{p}: the run was started with different settings (problem, method, "
                        "population, generations or seed); resume with the same ones")
    X = arrays.pop("X", None)
    if (X is None or X.ndim != 2 or X.dtype.kind not in "iu" or len(X) != meta.get(
            "archive_rows") or (sizes is not None and (X.shape[1] != len(sizes) or (
            len(X) and ((X < 0).any() or (X >= np.asarray(sizes)).any()))))
            or any(np.shape(v)[:1] != (len(X),) for v in arrays.values())):
        raise UserError(f"{p}: the saved archive does not match its state file or the search "
                        "space; start a new run")
    bad = _bad_meta(meta)
    if bad:
        raise UserError(f"{p}: {bad}: damaged; start a new run")
    archive = Archive()
    if len(X):
        archive.add(X, {k.split(":", 1)[1]: v for k, v in arrays.items()})
    return meta, archive
