"""Shared fixtures: the real-data fixture folder and a tiny synthetic benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real-data fixtures not found at {REALDATA} (expected ../shared/realdata beside the repo)")
    return REALDATA


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """One page per class of every synthetic dataset and split used in tests (seed 7)."""
    from distildoc.data.synthetic.generate import generate_split

    root = tmp_path_factory.mktemp("synthetic")
    for dataset, split in (("rvl", "train"), ("rvl", "test"), ("rvl_n", "test"), ("tobacco", "test")):
        generate_split(root, dataset, split, n_per_class=2 if split == "train" else 1, seed=7, progress=False)
    return root
