"""Developer tools: the nbval records and plugin, the gold annotation offsets (not installed with the package)."""
