"""The audit trail in the hub: recording, keys, checkpoints, the auditor API and commands."""
