"""`lambdafan query`: SQL over a run's records, with DuckDB over gzipped JSON Lines files (read
back from the table, or downloaded from the S3 export), or with Athena over the export."""
