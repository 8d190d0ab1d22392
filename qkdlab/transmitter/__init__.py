"""Facts about the transmitter and its optics that several layers need, each defined once.

Scans, calibration, the simulator and the analysis all import from here (and from nothing above
it): the protocols' settings and nominal phases and the PM drive levels (:mod:`.encoding`), the
inter-pulse window and the leakage-light phase profile of the Faraday-mirror geometry
(:mod:`.leakage_light`). Plain numpy, no instruments and no solvers.
"""

from .encoding import NOMINAL_PHASES, PROTOCOL_SETTINGS, drive_levels, nominal_phases
from .leakage_light import LeakageTraces, PhaseProfile, between_pulses, leakage_phase_fraction

__all__ = ["NOMINAL_PHASES", "PROTOCOL_SETTINGS", "nominal_phases", "drive_levels", "between_pulses", "LeakageTraces",
           "leakage_phase_fraction", "PhaseProfile"]
