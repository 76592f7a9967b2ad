"""The web service (FastAPI): hash bank, cases, upload checks, review. Not built yet."""
