"""The simulator's compact log: one record per batch of consecutive operators, never one per
operator.

A batch is a run of operators ``[i0, i1)`` of one request's stage plan that a slot ran back to
back from time ``t0``; operator ``j`` of it starts at ``t0 + (cum_s[j - 1] - base)`` and ends at
``t0 + (cum_s[j] - base)`` (``cum_s`` the plan's running sum of durations, ``base`` its value
before ``i0``). Everything per operator (the event log, the Perfetto trace, utilisation) is
rebuilt from these records and the plans, so a run's memory grows with its batches (one per
stage of a request when nothing contends, up to one per operator under round-robin
contention), at :data:`BYTES_PER_BATCH` each.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BatchLog", "BATCH_DTYPE", "BYTES_PER_BATCH"]

BATCH_DTYPE = np.dtype([("request", np.int32), ("plan", np.int32), ("i0", np.int32),
                        ("i1", np.int32), ("t0", np.float64), ("slot", np.int16),
                        ("base", np.float64)])
BYTES_PER_BATCH = BATCH_DTYPE.itemsize
"""Memory of one batch record once packed (the records of the last few thousand batches are
held as Python tuples until they are packed)."""

_PACK = 8192  # tuples held before they are packed into a typed chunk


class BatchLog:
    """Append-only log of batches; :meth:`records` packs it into one structured array."""

    def __init__(self) -> None:
        self._open: list[tuple] = []
        self._chunks: list[np.ndarray] = []
        self._n = 0

    def append(self, request: int, plan: int, i0: int, i1: int, t0: float, slot: int,
               base: float) -> None:
        """Record operators ``[i0, i1)`` of plan ``plan`` run from ``t0`` on ``slot``."""
        self._open.append((request, plan, i0, i1, t0, slot, base))
        self._n += 1
        if len(self._open) >= _PACK:
            self._pack()

    def _pack(self) -> None:
        if self._open:
            self._chunks.append(np.array(self._open, dtype=BATCH_DTYPE))
            self._open = []

    def __len__(self) -> int:
        return self._n

    def records(self) -> np.ndarray:
        """Every batch so far, in the order they ended (a structured array of BATCH_DTYPE)."""
        self._pack()
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, dtype=BATCH_DTYPE)
