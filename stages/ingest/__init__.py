"""Ingest stage: Kaggle price CSVs + metadata -> clean per-symbol Parquet files and quality records."""
