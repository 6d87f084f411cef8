"""Writing results: every file is written to a temporary sibling and renamed into place, so an
interrupted run never leaves a half-written file. A path that cannot be written is a one-line
:class:`~chipdse.errors.UserError`; JSON is always strict (non-finite numbers become null)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chipdse.errors import UserError

__all__ = ["atomic_path", "remove_orphans", "prepare_dir", "check_output_file", "write_text",
           "write_json", "write_csv", "write_columns_csv", "write_parquet", "csv_cells",
           "save_figure", "json_dumps", "check_figure_path",
           "FIGURE_FORMATS", "run_config", "versions"]

# Figure formats written by save_figure (all supported by matplotlib's Agg, PDF and SVG backends).
FIGURE_FORMATS = ("png", "pdf", "svg")


def _cannot_write(path: str | Path, exc: OSError) -> UserError:
    return UserError(f"cannot write {path}: {_blocker(path) or exc.strerror or exc}")


def _blocker(path: str | Path) -> str | None:
    """Why ``path`` cannot be made when one of its parents is an existing file."""
    for parent in Path(path).parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a directory"
    return None


def prepare_dir(path: str | Path) -> Path:
    """Check that the output directory ``path`` can be made and written, before a command's
    work, so that a bad ``-o`` fails at once. Directories made for the check are removed
    again: a command that then fails leaves nothing behind."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"cannot write to {path}: it is a file, not a directory")
    made = [q for q in (p, *p.parents) if not q.exists()]
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".chipdse-write-check.", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"cannot write to {path}: {_blocker(p) or exc.strerror or exc}") \
            from None
    finally:
        for q in made:  # deepest first
            with contextlib.suppress(OSError):
                q.rmdir()
    return p


def check_output_file(path: str | Path) -> Path:
    """Check before the work that the file ``path`` can be written (its directory is made)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    if p.parent.exists() and not p.parent.is_dir():
        raise UserError(f"cannot write {path}: {p.parent} is a file, not a directory")
    try:
        prepare_dir(p.parent)
    except UserError as exc:
        raise UserError(f"cannot write {path}: {str(exc).split(': ', 1)[1]}") from None
    return p


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Any operating-system failure (missing or read-only directory, ``path`` a directory, disk
    full) becomes a :class:`UserError` ``cannot write PATH: reason``.
    """
    target = Path(path)
    if target.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix,
                                   dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); results are ordinary files (0666 - umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        # On disk before the rename: a crash then leaves the old file or the new one, whole.
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_orphans(directory: str | Path) -> int:
    """Delete temporary files :func:`atomic_path` left in ``directory`` when a process was
    killed mid-write; returns how many were removed."""
    n = 0
    for p in Path(directory).glob(".*.tmp*"):
        if p.is_file() and ".tmp" in p.name:
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _default(o: Any) -> Any:
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "value") and hasattr(o, "name"):  # Enum
        return o.value
    raise TypeError(f"cannot serialise {type(o).__name__}")


def _finite(o: Any) -> Any:
    """``o`` with every non-finite float (NaN, inf) replaced by None, recursively."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    try:
        import numpy as np
        if isinstance(o, (np.generic, np.ndarray)):
            return _finite(o.tolist())
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return o


def json_dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj``: NaN and infinities become null (JSON has neither), numpy
    values become Python ones, paths strings and enums their values."""
    return json.dumps(_finite(obj), indent=indent, default=_default, allow_nan=False)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json_dumps(obj) + "\n")


def write_csv(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def csv_cells(values: Any) -> list[str]:
    """One column's cells as pandas' ``to_csv`` writes them: floats in their shortest
    round-trip form, NaN and None empty, booleans True / False."""
    import numpy as np

    a = np.asarray(values)
    if a.dtype.kind == "f":
        return [repr(x) if x == x else "" for x in a.tolist()]
    if a.dtype.kind == "b":
        return ["True" if x else "False" for x in a.tolist()]
    if a.dtype.kind in "iu":
        return [str(x) for x in a.tolist()]
    out = []
    for x in a.tolist():
        if x is None or (isinstance(x, float) and x != x):
            out.append("")
        else:
            out.append(repr(x) if isinstance(x, float) else str(x))
    return out


def write_columns_csv(path: str | Path, columns: dict[str, Any]) -> Path:
    """Write a table given as columns (name -> equal-length sequence) as CSV atomically, in
    the format of pandas' ``DataFrame.to_csv(index=False)`` (no pandas needed)."""
    import csv

    cells = [csv_cells(v) for v in columns.values()]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(list(columns))
            w.writerows(zip(*cells))
    return Path(path)


def _arrow(a: Any) -> Any:
    """A pyarrow array of a numpy array (numbers, booleans or text), built from its buffers:
    ``pyarrow.array`` would import pandas (a third of a second) to rule out pandas input."""
    import numpy as np
    import pyarrow as pa

    a = np.asarray(a)
    n = len(a)
    if a.dtype.kind == "b":
        bits = np.packbits(a.astype(bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    if a.dtype.kind in "iuf":
        return pa.Array.from_buffers(pa.from_numpy_dtype(a.dtype), n,
                                     [None, pa.py_buffer(np.ascontiguousarray(a))])
    text = ["" if v is None else str(v) for v in a.tolist()]
    raw = [t.encode("utf-8") for t in text]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(b) for b in raw], out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets),
                                                        pa.py_buffer(b"".join(raw))])


def write_parquet(path: str | Path, chunks: Any,
                  categories: dict[str, list[str]] | None = None) -> Path:
    """Write a table given as chunks (each a dict of column name -> array, the same columns
    in each) as one Parquet file atomically, one row group per chunk, so a table larger than
    memory streams through. Columns named in ``categories`` hold integer codes into those
    names and are written dictionary-encoded, as are text columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    dictionaries = {k: _arrow(np.asarray(v, dtype=object)).cast(pa.string())
                    for k, v in (categories or {}).items()}

    def table(chunk: dict[str, Any]) -> Any:
        cols = {}
        for k, v in chunk.items():
            a = np.asarray(v)
            if k in dictionaries:
                cols[k] = pa.DictionaryArray.from_arrays(_arrow(a), dictionaries[k])
            elif a.dtype.kind in "OUS":
                cols[k] = _arrow(a).cast(pa.string()).dictionary_encode()
            else:
                cols[k] = _arrow(a)
        return pa.table(cols)

    with atomic_path(path) as tmp:
        writer = None
        try:
            for chunk in chunks:
                t = table(chunk)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, t.schema)
                if not t.schema.equals(writer.schema):
                    t = t.cast(writer.schema)
                writer.write_table(t, row_group_size=max(t.num_rows, 1))
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{path}: no rows given, not even an empty chunk")
    return Path(path)


def check_figure_path(path: str | Path) -> str:
    """The figure format named by ``path``'s suffix; a :class:`UserError` unless it is one of
    :data:`FIGURE_FORMATS`."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in FIGURE_FORMATS:
        shown = f"'.{fmt}'" if fmt else "no suffix"
        raise UserError(f"cannot write {path}: unsupported figure format ({shown}); use "
                        f"{', '.join('.' + f for f in FIGURE_FORMATS)}")
    return fmt


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix: .png, .pdf or .svg) and
    close it."""
    import matplotlib.pyplot as plt

    try:
        fmt = check_figure_path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    finally:
        plt.close(fig)
    return Path(path)


def versions() -> dict[str, str]:
    """Python, the platform, and the version of chipdse and of each library it runs on."""
    import platform
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("chipdse", "numpy", "pandas", "pyarrow", "simpy", "pymoo", "scipy", "networkx",
                "dask", "distributed"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def run_config(command: str, inputs: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """The config.json every run directory gets: resolved inputs, seed, versions."""
    return {"command": command, "inputs": inputs, "seed": seed, "versions": versions()}
