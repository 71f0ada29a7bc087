"""Protecting the v-number: the blind index that finds a case and the sealed copy that shows it."""
