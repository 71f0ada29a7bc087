"""The encrypted object store: envelope format, key ring and object backends.

Mechanism, not policy: this package knows nothing of HTTP, the database or who may read what.
It imports neither FastAPI nor SQLModel, and never ``hub``, ``auth`` or ``audit``.
"""
