"""Document ingestion: load -> parse -> chunk -> embed -> write, each stage an iterator."""
