"""The auditor's console (role ``auditor``, scope ``audit:read``): pages under ``/audit``.

Read-only. Every page calls the audit API's own services with the person as the caller, so
an auditor's reads are recorded exactly as through ``/api/v1/audit``; no page shows document
content.
"""
