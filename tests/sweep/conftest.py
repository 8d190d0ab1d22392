"""A real dask LocalCluster (2 worker processes) shared by the sweep tests of a session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gys() -> dict:
    """GYS-like link (Gobby, Yuan, Shields 2004, as simulated by Ma, Qi, Zhao, Lo 2005): decoy BB84."""
    return {"fiber_loss": 0.21, "detector_efficiency": 0.045, "dark_count_prob": 1.7e-6, "misalignment": 0.033,
            "ec_efficiency": 1.22, "rep_rate": 2e6, "signal": 0.5, "decoy": 0.1, "method": "lt"}


@pytest.fixture(scope="session")
def cluster_client():
    from qkdlab.sweep.run import local_cluster

    with local_cluster(2) as client:   # the cluster qkdlab sweep starts itself
        yield client
