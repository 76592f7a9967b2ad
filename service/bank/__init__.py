"""The hash bank's domain operations: cases, their hashes, the change log, the audit log.

Routers and the CLI call these; these never know about HTTP.
"""
