"""Ingestion as explicit stages: read (bytes -> records), validate (records -> rows + rejects),
load (COPY into the job's partition, summaries, one transaction), jobs (states and progress)."""
