"""The caseworkers' pages of the web UI: documents, upload and shares (decision 0025).

Server-rendered pages over the same services as the API: a page reads, uploads, downloads and
shares through :mod:`hub.documents` and :mod:`hub.shares`, so the policy decides and the trail
records exactly as for a partner system, with the person as the actor. What a page needs that
the API does not give, a document's share provenance, the person's own download receipts, the
choices the policy leaves a form, is added here, above the features it combines.
"""
