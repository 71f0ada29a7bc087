"""Sealed objects: encrypted bytes in the object store, their wrapped data keys in the database.

This is where the hub joins ``storage``'s mechanism to its own records. A document version's
content is *sealed*: encrypted under a fresh data key, written to the object store under an
opaque random key, and recorded in a ``sealed_object`` row that holds the wrapped data key, the
plaintext's size and SHA-256, and the object key. Documents (a later feature) refer to these rows.
"""
