"""Default energy constants by process node and memory technology.

Used when a chip file gives no ``energy`` section or no ``energy_per_byte`` for a memory level.
Reference points (all per operation or per byte, before node scaling):

* 45 nm arithmetic, M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, Fig. 1.1.9: FP16 multiply 1.1 pJ + add 0.4 pJ; INT8 multiply 0.2 pJ + add
  0.03 pJ; FP32 multiply 3.7 pJ + add 0.9 pJ. One MAC = 2 ops, so per op is half the sum.
* Node scaling of dynamic energy, A. Stillmaker and B. Baas, "Scaling equations for the accurate
  prediction of CMOS device performance from 180 nm to 7 nm", Integration 58 (2017), Table 4
  (energy relative to 45 nm; values between nodes are interpolated in log-log space).
* DRAM access energy per bit: HBM2 ~3.9 pJ/bit, GDDR6 ~7.5 pJ/bit, LPDDR5 ~4 pJ/bit
  (O'Connor et al., "Fine-grained DRAM", MICRO 2017, Table 1 for HBM2/GDDR; Micron LPDDR5
  technical note TN-62-02 for LPDDR5, rounded). Assumption: LPDDR5X equals LPDDR5 per bit.
* On-chip SRAM access: ~5 pJ per 64-bit read of an 8 KB array at 45 nm (Horowitz 2014), i.e.
  ~0.6 pJ/B, node-scaled; large shared SRAMs pay wire energy, assumed 2x that figure.
"""

from __future__ import annotations

import numpy as np

__all__ = ["node_energy_scale", "default_matrix_energy", "default_vector_energy",
           "default_memory_energy", "DRAM_J_PER_BYTE"]

# Stillmaker & Baas (2017), relative dynamic energy per operation vs 45 nm.
_NODES_NM = np.array([7.0, 10.0, 14.0, 16.0, 20.0, 22.0, 32.0, 45.0, 65.0, 90.0])
_ENERGY_REL = np.array([0.16, 0.21, 0.28, 0.30, 0.36, 0.39, 0.60, 1.0, 1.6, 2.5])

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
_45NM_SRAM_J_PER_BYTE = 5e-12 / 8

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
