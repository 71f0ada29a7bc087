"""The abuse test suite: attacks on a real hub process, by OWASP API Security Top 10 (2023) item
and ASVS 5.0 chapter (see README.md in this directory)."""
