"""Who may see which document: the one owner of that rule, in its two forms.

- :mod:`hub.access.rule`: the rule for one document (:func:`~hub.access.rule.read_access`,
  naming the rule that decided), and :func:`~hub.access.rule.resolve_visible`, which every
  reader of a single document calls, with the stand-in that makes a missing id and a hidden
  document cost the same.
- :mod:`hub.access.listing`: the same rule compiled into the SQL filter that lists and searches
  run, so a list shows exactly what reading one by one allows.
- :mod:`hub.access.repository`: the SQL both forms share: when a share is active, and what it
  reaches.

This is an engine, not a feature: it reads the tables of documents, shares and organisations
and the policy model, and never a feature's service or endpoints, so every feature (documents,
shares, policy explain, the web UI) can build on it.
"""
