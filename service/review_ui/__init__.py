"""The moderators' review UI, served under ``/review`` by the same app as the API."""
