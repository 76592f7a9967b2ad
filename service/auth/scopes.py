"""What a platform's API key may be used for: named apart from the keys' storage, so the
command line can list them without loading the database layer."""

#: ``exchange.read``: the hash feed; ``exchange.feedback``: verdicts on bank hashes;
#: ``exchange.write``: submitting the platform's own hashes to the bank.
SCOPES = ("match", "exchange.read", "exchange.feedback", "exchange.write", "review")
DEFAULT_SCOPES = ("match",)
