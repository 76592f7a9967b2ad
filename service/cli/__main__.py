"""``python -m service.cli``: the same as ``ncii``."""

from . import main

main()
