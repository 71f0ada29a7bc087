"""Checking the audit trail from the console: full verifications as background jobs, and
checkpoints a partner kept checked against the log (decision 0026)."""
