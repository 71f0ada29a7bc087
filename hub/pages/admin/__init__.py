"""The administrator's pages (role ``admin``, scope ``admin``): pages under ``/admin``.

Organisations, people, partner clients, shares and the policy. Every action goes through the
same service as the command line and the API, and is recorded with the person as the actor. An
administrator never reads document content, and reads audit details only with the auditor role.
"""
