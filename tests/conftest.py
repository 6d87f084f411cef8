"""Shared fixtures: built-in chips and models, small helper factories."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files; no display

from microarch.loader import load_chip
from workloads.loader import load_model


@pytest.fixture(scope="session")
def orin():
    return load_chip("jetson-agx-orin-64gb")


@pytest.fixture(scope="session")
def thor():
    return load_chip("jetson-agx-thor")


@pytest.fixture(scope="session")
def qwen05():
    return load_model("qwen2.5-0.5b")
