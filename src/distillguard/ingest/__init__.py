"""Reading the logs providers already have into the canonical warehouse.

``ingest_paths(warehouse, paths, config=...)`` reads LiteLLM, OTLP/JSON GenAI,
OpenAI-compatible request logs, Langfuse exports and canonical files (plain,
gzip or zstd; files, directories, globs), and returns an ``IngestReport`` whose
read count always equals stored + duplicates + quarantined.
"""

from distillguard.ingest.run import FileReport, IngestReport, ingest_file, ingest_paths

__all__ = ["FileReport", "IngestReport", "ingest_file", "ingest_paths"]
