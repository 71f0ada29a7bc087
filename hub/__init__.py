"""The Ketenhub application: HTTP API, domain services, database and the ``ketenhub`` CLI.

``hub`` is the only package that knows about HTTP and the database. It builds ``storage``,
``auth`` and ``audit`` objects from its settings and calls them; they never import ``hub``.
"""
