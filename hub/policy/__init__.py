"""The policy API: ``GET /api/v1/policy`` and ``POST /api/v1/policy/explain`` (an audited
read). The rules engine is :mod:`hub.rules`."""
