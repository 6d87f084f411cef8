"""Calibration: fit a chip family's achieved-efficiency terms to published measurements, and
measure how well they hold (in sample, leaving a model out, leaving a device out).

Modules: :mod:`~chipdse.calibrate.terms` (the one registry of terms),
:mod:`~chipdse.calibrate.measurements` (reading measurement CSVs),
:mod:`~chipdse.calibrate.predict` (the cost model's time for each measured quantity),
:mod:`~chipdse.calibrate.fit` (bounded least squares with identifiability and uncertainty),
:mod:`~chipdse.calibrate.tables` (predicted vs measured), :mod:`~chipdse.calibrate.write`
(fitted terms into chip or family YAML), :mod:`~chipdse.calibrate.run` (the front doors).
"""

from chipdse.calibrate.fit import FitResult, TermReport, fit_terms
from chipdse.calibrate.measurements import (
    Measurement,
    MeasurementSet,
    builtin_measurements_path,
    load_measurements,
)
from chipdse.calibrate.predict import Target, build_targets, candidate_terms, predict
from chipdse.calibrate.run import (
    Calibration,
    Validation,
    calibrate,
    leave_one_model_out,
    select_rows,
    validate,
)
from chipdse.calibrate.tables import mape_table, prediction_table
from chipdse.calibrate.terms import PRIOR, TERMS, apply_terms, term_value
from chipdse.calibrate.write import calibrated_chip_yaml, family_block_yaml

__all__ = ["calibrate", "validate", "Calibration", "Validation", "fit_terms", "FitResult",
           "TermReport", "Target", "build_targets", "candidate_terms", "predict",
           "leave_one_model_out", "select_rows", "mape_table", "prediction_table", "TERMS",
           "PRIOR", "apply_terms", "term_value", "calibrated_chip_yaml", "family_block_yaml",
           "Measurement", "MeasurementSet", "load_measurements", "builtin_measurements_path"]
