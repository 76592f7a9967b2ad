"""Platform-side sync: mirror a remote hotline's bank into this instance's bank.

``remote`` is the small interface every dialect's client implements (fetch a page of
records from a checkpoint), ``client_native`` and ``client_stopncii`` speak the two
dialects, ``mirror`` applies a page and advances the checkpoint in one transaction, and
``runner`` loops over pages (and, continuously, over runs). ``ncii sync`` is in
``service.cli.sync``.
"""
