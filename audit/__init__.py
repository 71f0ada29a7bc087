"""The tamper-evident audit trail: recording, Merkle log, signed checkpoints and verification.

Records and verifies, never decides. Built by the audit issue; it imports neither ``hub`` nor
``storage``.
"""
