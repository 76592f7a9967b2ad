"""The hash exchange: the bank's change feed for platforms, their feedback, and the StopNCII dialect.

``feed`` reads the change log as records (both dialects are rendered from it, so they cannot
drift apart), ``feedback`` stores platforms' verdicts and feeds the reputation, ``stopncii``
maps both onto the wire shapes python-threatexchange's ``StopNCIIAPI`` speaks.
"""
