"""Organisations of the vreemdelingenketen (the Dutch immigration chain) that use the hub."""
