"""Documents: upload, listing, retrieval and crypto-shredding, under the sharing policy."""
