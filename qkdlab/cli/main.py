"""The ``qkdlab`` command: the click group, with one module per command group beside it.

Command modules import only click and rich at the top, so ``qkdlab --help`` stays fast; each
command imports the layers it drives when it runs.
"""

from __future__ import annotations

import click

from .. import __version__
from .bench import bench
from .calibrate import calibrate_command
from .console import QkdlabGroup
from .dashboard import dashboard_command
from .demo import demo_command
from .keyrate import keyrate_command
from .live import live_command
from .runs import plot_command, runs_command
from .scan import scan
from .sweep import sweep_command

__all__ = ["main"]


@click.group(cls=QkdlabGroup)
@click.version_option(__version__, prog_name="qkdlab")
def main() -> None:
    """qkdlab: drive, characterize and analyse a QKD transmitter bench (real or simulated)."""


for _command in (bench, scan, runs_command, plot_command, calibrate_command, keyrate_command, live_command,
                 dashboard_command, demo_command, sweep_command):
    main.add_command(_command)
