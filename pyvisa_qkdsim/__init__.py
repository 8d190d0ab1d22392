"""Entry point pyvisa looks for when a ResourceManager is opened with ``@qkdsim``.

pyvisa imports ``pyvisa_<backend>`` and takes its ``WRAPPER_CLASS``; the backend itself lives in
``qkdlab.sim.visa``.
"""

from qkdlab.sim.visa import WRAPPER_CLASS

__all__ = ["WRAPPER_CLASS"]
