"""Live key-rate estimates during an experiment: estimator, producers, view, log (issue 6)."""

from .alarms import Alarm, AlarmPolicy
from .estimator import Estimate, LiveEstimator, Update
from .ingest import block_from_events, slots_from_tags
from .link import Block, LinkDrift, SimulatedLink
from .record import LinkRecorder, follow_link_run, read_link_run
from .session import SessionResult, paced, run_session

__all__ = ["Alarm", "AlarmPolicy", "Estimate", "LiveEstimator", "Update", "Block", "LinkDrift", "SimulatedLink",
           "LinkRecorder", "follow_link_run", "read_link_run", "SessionResult", "paced", "run_session",
           "block_from_events", "slots_from_tags"]
