"""``Idempotency-Key``: a retried request answers the first result again (issue 14, decision 0031).

``POST /api/v1/documents``, ``POST /api/v1/shares`` and tus upload creation take the header of
draft-ietf-httpapi-idempotency-key-header: an RFC 8941 sf-string, 1 to 255 printable ASCII
characters. A key belongs to one caller (:func:`caller_key`: the person, or the issuer and
client id) and one operation, and lives 24 hours:

=====================================================  ===================================
The request                                            The answer
=====================================================  ===================================
malformed key (not an sf-string, empty, too long,      400 ``idempotency-key-malformed``
two header lines)
first use of the key (or its 24 hours are over)        done as usual; the answer is kept
same key, same request, first one done                 the first answer again, with
                                                       ``Idempotent-Replayed: true``
same key, another request                              422 ``idempotency-key-reused``
same key while the first request still runs            409 ``idempotency-key-in-progress``
same key after the first request failed (4xx/5xx)      done as usual: a failure is not kept
=====================================================  ===================================

The API the features use (:mod:`hub.idempotency.service`); a route goes through
:mod:`hub.web.idempotent`, which records the refusals as the route's action and binds the claim
to the request's transaction. tus creation (``upload.create``), in the route::

    from hub.idempotency.keys import fingerprint
    from hub.idempotency.service import Answer, Replay
    from hub.web import idempotent

    begun = idempotent.begin(                  # None without the header; 400/409/422 recorded
        service, request.headers, action=Action.UPLOAD_CREATE, about=About("upload"),
        fingerprint=fingerprint({"length": length, "document_type": type_name,
                                 "v_index": protector.blind_index(v_number),
                                 "title": title, "filename": filename}),
    )
    if isinstance(begun, Replay):              # the first answer: status and headers
        return Response(status_code=begun.answer.status,
                        headers=idempotent.replay_headers(begun.answer))
    upload = ...the work, in the request's session...
    if begun is not None:                      # a Claim: kept with the work, or released
        begun.complete(service.session, Answer(
            201, resource_id=upload.id,
            headers={"Location": f"/api/v1/uploads/{upload.id}", "Upload-Expires": ...}))

Without the web layer (:class:`~hub.idempotency.service.Idempotency` itself)::

    begun = Idempotency(engine, caller=caller_key(principal), operation="upload.create")
                .begin(key, fingerprint)      # Claim | Replay; KeyInProgress, KeyReused
    begun.bind(session)                        # a Claim: released unless completed+committed
    begun.complete(session, Answer(...), fingerprint=None)

- :meth:`Idempotency.begin` claims the key in a short transaction of its own (insert or find the
  row, race-free across replicas: the primary key decides), so a second request with the key
  sees "in progress" at once. A fingerprint of ``None`` (an upload whose body is not read yet)
  is given later to :meth:`Claim.complete`, or checked with :meth:`Replay.check`.
- :meth:`Claim.complete` stores the answer in the request's own transaction, so it is kept
  exactly when the work it answers is committed. :meth:`Claim.bind` makes sure a claim that was
  not completed and committed is deleted once the request's transaction has ended, so the key
  may be used again; a claim a crashed process left behind may be taken over once its lease
  (10 minutes, renewed by :meth:`Claim.renew` while a body streams) has lapsed.
- :class:`Answer` holds no body and no personal data: a status, the resource's id, headers such
  as ``Location`` and the audit receipt. The route renders the body again from the resource's
  row on a replay (a v-number is never kept in this table).
- :func:`fingerprint` hashes the request's meaning as canonical JSON. Never put a v-number in
  it: put its blind index (:meth:`hub.subjects.keys.SubjectProtector.blind_index`).
- Refusals (400, 409, 422) are :class:`~hub.core.errors.HubError` s the route records as the
  refusal of its own action (``document.upload``, ``share.create``, ``upload.create``).
"""
