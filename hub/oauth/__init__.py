"""The OAuth 2.0 endpoints (``/oauth/*`` and the RFC 8414 metadata), on top of ``auth``."""
