"""The main job: build a realistic gallery from a face set, ingest it, identify a hard probe."""
