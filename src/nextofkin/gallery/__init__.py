"""Gallery exports to records: formats, ingest, owner resolution and the vector index."""
