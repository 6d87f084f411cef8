"""chipdse.sim: the SimPy discrete-event simulator for VLA traces.

``simulate(chip, model, trace, ...)`` runs a trace (streams of vision-encoder + prefill +
decode requests with arrival times and deadlines) on a chip whose phase-resource mode decides
the scheduling, and returns a :class:`SimResult` (per-stream latency statistics, deadline
misses, energy, utilisation over time, the per-operator event log). Operator durations come only
from :func:`chipdse.cost.op_cost`; partitions and energy accounting from
:mod:`chipdse.accounting`.
"""

from chipdse.sim.engine import POLICIES, SimOptions, Simulator
from chipdse.sim.results import SimResult
from chipdse.sim.run import simulate, with_phase

__all__ = ["simulate", "with_phase", "SimOptions", "SimResult", "Simulator", "POLICIES"]
