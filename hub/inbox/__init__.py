"""The inbox: what became visible to an organisation through shares, in order, with a cursor."""
