"""Signal types and their registry: ``get_signal("pdq")``, ``signal_names()``.

Importing this package registers the built-in types (pdq, the imagehash
family, md5, sha256, vpdq); a plug-in registers its own with :func:`register`.
"""

from . import digests, imagehash_family, pdq, vpdq  # noqa: F401  (registration)
from .base import SignalType, all_signals, get_signal, register, signal_names

__all__ = ["SignalType", "all_signals", "get_signal", "register", "signal_names"]
