"""Recording in the audit trail: the :class:`~hub.trail.auditor.Auditor` (append, receipts,
checkpoints), the typed :class:`~hub.trail.recorder.Recorder` and
:class:`~hub.trail.recorder.About` through which every part of the hub records, the contexts
of an action (request, operator, the hub itself), the audit keys, and the checkpoint export and
its timer. The mechanism (leaves, Merkle log, notes, verifier) is the ``audit`` package; the
auditor's API is :mod:`hub.auditing`."""
