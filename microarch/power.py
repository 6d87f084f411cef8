"""Default energy constants by process node and memory technology.

Used when a chip file gives no ``energy`` section or no ``energy_per_byte`` for a memory level.
Reference points (all per operation or per byte, before node scaling):

* 45 nm arithmetic, M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, Fig. 1.1.9: FP16 multiply 1.1 pJ + add 0.4 pJ; INT8 multiply 0.2 pJ + add
  0.03 pJ; FP32 multiply 3.7 pJ + add 0.9 pJ. One MAC = 2 ops, so per op is half the sum.
* Node scaling of dynamic energy, A. Stillmaker and B. Baas, "Scaling equations for the accurate
  prediction of CMOS device performance from 180 nm to 7 nm", Integration 58 (2017), Table 4
  (energy relative to 45 nm; values between nodes are interpolated in log-log space).
  Below 7 nm the foundry's power reduction at the same speed, taken as the reduction of energy
  per operation, chained from the 7 nm value (assumption: Stillmaker and Baas's 7 nm is TSMC
  N7): N5 = N7 x 0.70 ("about 30% reduction in power consumption" vs N7,
  tsmc.com/english/dedicatedFoundry/technology/5nm.htm); N3E = N5 x 0.66 (-34% power vs N5 at
  the same speed, TSMC 2022 Technology Symposium as compiled by AnandTech, "TSMC's roadmap at
  a glance", 2024); N4 = N5 x 0.90 (assumption: TSMC publishes no N4 power figure; it gives
  N4P +11% speed over N5 and +6% over N4, so N4 is ~+5% over N5, the speed step of N5P, whose
  power step TSMC gives as -10%, allaboutcircuits.com report of TSMC's 2020 symposium).
  Nodes below 3 nm take the 3 nm value.
* DRAM access energy per bit: HBM2 ~3.9 pJ/bit, GDDR6 ~7.5 pJ/bit, LPDDR5 ~4 pJ/bit
  (O'Connor et al., "Fine-grained DRAM", MICRO 2017, Table 1 for HBM2/GDDR; Micron LPDDR5
  technical note TN-62-02 for LPDDR5, rounded). Assumption: LPDDR5X equals LPDDR5 per bit.
* On-chip SRAM access: 10 pJ per 64-bit read of an 8 KB cache at 45 nm (Horowitz 2014), i.e.
  1.25 pJ/B, node-scaled; large shared SRAMs pay wire energy, assumed 2x that figure.

Chip power (:func:`peak_power_w`, :func:`chip_peak_power_w`): every engine and memory level
busy at once, each at rate x energy, plus leakage and the CPU cluster. Constants:

* Datapath factor 2.0 on matrix and vector arithmetic energy (assumption: operand delivery,
  pipeline registers and accumulators cost about as much as the arithmetic itself; Horowitz
  2014 shows data movement, not arithmetic, dominating energy).
* Leakage 0.04 W per mm^2 of die (assumption: 15-20 % of a ~100 W automotive module spread
  over a ~400 mm^2 die, the range the chip presets' static-power assumptions use), not scaled
  with node (density rises about as fast as leakage per transistor falls).
* CPU cores at their usual automotive clocks (assumptions, Arm publishes no figures):
  Cortex-A78AE class 1.5 W, Neoverse V3AE class 3.0 W, SiFive X280 class 0.4 W.
"""

from __future__ import annotations

import numpy as np

__all__ = ["node_energy_scale", "default_matrix_energy", "default_vector_energy",
           "default_memory_energy", "DRAM_J_PER_BYTE", "DATAPATH_ENERGY_FACTOR",
           "LEAKAGE_W_PER_MM2", "CPU_CORE_W", "leakage_power_w", "cpu_power_w",
           "peak_power_w", "chip_peak_power_w"]

# Relative dynamic energy per operation vs 45 nm: Stillmaker & Baas (2017) from 7 nm up;
# below it TSMC's iso-speed power reductions chained from 7 nm (module docstring).
_E5 = 0.16 * 0.70   # N5: -30 % vs N7
_E4 = _E5 * 0.90    # N4: -10 % vs N5 (assumption, see the docstring)
_E3 = _E5 * 0.66    # N3E: -34 % vs N5
_NODES_NM = np.array([3.0, 4.0, 5.0, 7.0, 10.0, 14.0, 16.0, 20.0, 22.0, 32.0, 45.0, 65.0, 90.0])
_ENERGY_REL = np.array([_E3, _E4, _E5, 0.16, 0.21, 0.28, 0.30, 0.36, 0.39, 0.60, 1.0, 1.6, 2.5])

_45NM_J_PER_OP = {
    "fp32": (3.7e-12 + 0.9e-12) / 2,
    "fp16": (1.1e-12 + 0.4e-12) / 2,
    "bf16": (1.1e-12 + 0.4e-12) / 2,
    "fp8": (0.2e-12 + 0.03e-12) / 2 * 1.5,  # assumption: FP8 MAC costs 1.5x INT8
    "int8": (0.2e-12 + 0.03e-12) / 2,
    "int4": (0.2e-12 + 0.03e-12) / 2 / 2.5,  # assumption: INT4 ~ 0.4x INT8 (quadratic mult)
    "nvfp4": (0.2e-12 + 0.03e-12) / 2 / 2.0,  # assumption: FP4 ~ 0.5x INT8
    "mxfp4": (0.2e-12 + 0.03e-12) / 2 / 2.0,
}
_45NM_SRAM_J_PER_BYTE = 10e-12 / 8

DRAM_J_PER_BYTE = {
    "hbm": 3.9e-12 * 8,
    "gddr": 7.5e-12 * 8,
    "lpddr": 4.0e-12 * 8,
}


def node_energy_scale(node_nm: float) -> float:
    """Dynamic energy per op at ``node_nm`` relative to 45 nm (log-log interpolation)."""
    x = np.log(np.clip(node_nm, _NODES_NM[0], _NODES_NM[-1]))
    return float(np.exp(np.interp(x, np.log(_NODES_NM), np.log(_ENERGY_REL))))


def default_matrix_energy(node_nm: float) -> dict[str, float]:
    """Energy per matrix op (J) for each format at ``node_nm``."""
    s = node_energy_scale(node_nm)
    return {fmt: e * s for fmt, e in _45NM_J_PER_OP.items()}


def default_vector_energy(node_nm: float) -> float:
    """Energy per vector-unit op (J): an FP32 op at ``node_nm``."""
    return _45NM_J_PER_OP["fp32"] * node_energy_scale(node_nm)


def default_memory_energy(kind: str, node_nm: float, dram_type: str = "lpddr") -> float:
    """Access energy (J/byte) of a memory level of ``kind`` ("dram", "shared", "local", "kv")."""
    if kind == "dram":
        return DRAM_J_PER_BYTE[dram_type]
    scale = node_energy_scale(node_nm)
    wire = 2.0 if kind == "shared" else 1.0
    return _45NM_SRAM_J_PER_BYTE * scale * wire


DATAPATH_ENERGY_FACTOR = 2.0
LEAKAGE_W_PER_MM2 = 0.04
CPU_CORE_W = {"a78ae": 1.5, "v3ae": 3.0, "x280": 0.4}


def leakage_power_w(area_mm2):
    """Leakage / always-on power (W) of a die of ``area_mm2`` (broadcasts)."""
    return np.asarray(area_mm2, dtype=float) * LEAKAGE_W_PER_MM2


def cpu_power_w(cpu_cores) -> float:
    """Power (W) of a CPU cluster given as ``{core class: count}``."""
    unknown = set(cpu_cores) - set(CPU_CORE_W)
    if unknown:
        raise ValueError(f"unknown CPU core class {sorted(unknown)} (known: "
                         f"{', '.join(CPU_CORE_W)})")
    return float(sum(CPU_CORE_W[k] * float(n) for k, n in cpu_cores.items()))


def peak_power_w(matrix_ops_per_s, matrix_j_per_op, vector_ops_per_s, vector_j_per_op,
                 dram_bytes_per_s, dram_j_per_byte, sram_bytes_per_s, sram_j_per_byte,
                 static_w, cpu_w=0.0) -> dict:
    """Power (W) with everything busy at once, by component, and ``total_w``.

    Arguments broadcast (one chip or a population). Matrix and vector arithmetic pay
    :data:`DATAPATH_ENERGY_FACTOR`; memory energies are per byte as given.
    """
    f = np.asarray
    out = {
        "matrix_w": f(matrix_ops_per_s, float) * matrix_j_per_op * DATAPATH_ENERGY_FACTOR,
        "vector_w": f(vector_ops_per_s, float) * vector_j_per_op * DATAPATH_ENERGY_FACTOR,
        "dram_w": f(dram_bytes_per_s, float) * dram_j_per_byte,
        "sram_w": f(sram_bytes_per_s, float) * sram_j_per_byte,
        "static_w": f(static_w, float) + 0.0,
        "cpu_w": f(cpu_w, float) + 0.0,
    }
    out["total_w"] = sum(out.values())
    return out


def chip_peak_power_w(chip, cpu_cores=None) -> dict:
    """:func:`peak_power_w` of a :class:`~microarch.chip.Chip` (datasheet peaks, every level
    busy; the matrix engines in whichever format draws most) plus its CPU cluster."""
    best = max(chip.matrix.peak_dense_ops_per_s.items(),
               key=lambda kv: kv[1] * chip.energy.matrix(kv[0]))
    sram_bw = sum(m.bandwidth_bytes_per_s for m in chip.memory if m.kind.value != "dram")
    sram_e = sum(m.bandwidth_bytes_per_s * m.energy_j_per_byte for m in chip.memory
                 if m.kind.value != "dram") / max(sram_bw, 1.0)
    return peak_power_w(best[1], chip.energy.matrix(best[0]), chip.vector.peak_ops_per_s,
                        chip.energy.vector_j_per_op, chip.dram.bandwidth_bytes_per_s,
                        chip.dram.energy_j_per_byte, sram_bw, sram_e,
                        chip.technology.static_power_w, cpu_power_w(cpu_cores or {}))
