"""Writing results: every file is written to a temporary sibling and renamed into place, so an
interrupted run never leaves a half-written file."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_text", "write_json", "write_csv", "save_figure",
           "run_config", "versions"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix,
                               dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); results are ordinary files (0666 - umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=_default) + "\n")


def write_csv(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix) and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fmt = Path(path).suffix.lstrip(".") or "png"
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    plt.close(fig)
    return Path(path)


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("chipdse", "numpy", "pandas", "simpy", "pymoo", "scipy", "networkx"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def run_config(command: str, inputs: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """The config.json every run directory gets: resolved inputs, seed, versions."""
    return {"command": command, "inputs": inputs, "seed": seed, "versions": versions()}
