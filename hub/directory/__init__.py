"""Which organisations and OAuth clients exist and may act: the queries on their tables and the
in-process views, reloaded every few seconds, that every request consults."""
