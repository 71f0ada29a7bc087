"""Resumable uploads on tus 1.0 (`/api/v1/uploads`); see :mod:`hub.uploads.service`."""
