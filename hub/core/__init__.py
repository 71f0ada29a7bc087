"""The core every layer of the hub uses: the error family, database sessions, transactions and
migrations, timers, short-lived caches, and the rules for names and purposes. It imports
nothing else of the hub."""
