"""BB84 with detector-efficiency mismatch (Zhang et al., PRR 3, 013076 (2021)) on the numerical
engine: Bob's optics and POVMs, photon-number bounds and the flag-state squasher, the simulated
channel and observed statistics, the certified key rate. See docs/numerical-derivation.md."""

from .bounds import PhotonBoundError, PhotonBounds, photon_bounds, photon_number_minima
from .channel import simulate_statistics, statistics_from_counts
from .decoy import (
           DecoyMismatchKeyRate,
           DecoyStatistics,
           decoy_mismatch_key_rate,
           decoy_statistics_from_observations,
           photon_number_yields,
           simulate_decoy_statistics,
           yield_bounds_key_rate,
)
from .keyrate import MismatchKeyRate, default_squasher_photons, mismatch_key_rate
from .optics import MismatchInputError, Receiver, table_i, table_ii
from .protocol import build_problem, leakage

__all__ = ["DecoyMismatchKeyRate", "DecoyStatistics", "MismatchInputError", "MismatchKeyRate", "PhotonBoundError",
           "PhotonBounds", "Receiver", "build_problem", "decoy_mismatch_key_rate", "decoy_statistics_from_observations",
           "default_squasher_photons", "leakage", "mismatch_key_rate", "photon_bounds", "photon_number_minima",
           "photon_number_yields", "simulate_decoy_statistics", "simulate_statistics", "statistics_from_counts",
           "table_i", "table_ii", "yield_bounds_key_rate"]
