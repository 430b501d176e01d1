"""Cluster ingest: the per-image work on a Ray cluster, results as Parquet shards, bulk loads.

``listing`` reads and hashes the export once (paths and hashes travel, not bytes); ``engine``
runs the analysis on Ray Data actors that load the models once and write one Parquet shard per
batch of images; ``loader`` moves each finished shard into the records in one transaction
(PostgreSQL ``COPY``, SQLite batched) with its row in the shard ledger (``ledger``).
"""
