"""ncii-matcher's library: load images safely, hash them, index and match hashes.

No web code lives here: a platform can ``pip install ncii-matcher`` and hash its
uploads with exactly the code the hotline uses.
"""
