"""The browser view of a live run or a recorded one (issue 23): a read-only Bokeh server page.

The live loop publishes each update to a :class:`Feed` (never blocking); a :class:`DashboardServer`
on its own thread drains it into a bounded :class:`History` and streams it to every viewer.
"""

from .board import Board
from .feed import Feed, RunInfo
from .history import History
from .replay import estimate_into
from .server import DashboardServer, is_loopback

__all__ = ["Board", "Feed", "RunInfo", "History", "DashboardServer", "estimate_into", "is_loopback"]
