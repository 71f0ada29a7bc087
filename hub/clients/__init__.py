"""OAuth clients: the partner systems that call the API, registered by an administrator."""
