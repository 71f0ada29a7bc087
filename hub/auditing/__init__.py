"""The auditor's API: events with their proofs, checkpoints, consistency proofs, the audit
keys, the export of events and the report on one person. Every query is itself recorded.
Recording is :mod:`hub.trail`."""
