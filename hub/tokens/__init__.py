"""The authorization server wired to the hub (signing keys, revocation list, per-request
servers), and a token's standing: whether its client and organisation may still act."""
