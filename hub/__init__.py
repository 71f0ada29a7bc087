"""The Ketenhub application: HTTP API, domain services, database and the ``ketenhub`` CLI.

``hub`` is the only package that knows about HTTP and the database. It builds ``storage``,
``auth`` and ``audit`` objects from its settings and calls them; they never import ``hub``.
Inside, each folder is one layer and imports only those below it: ``cli``, ``app``, the
features, ``web``, ``runtime``, the engines, ``tables`` and ``config``, ``core``
(docs/architecture.md).
"""
