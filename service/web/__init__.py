"""The victim's pages: hashing in the browser, case status. Served by the same app."""
