"""One module per group of CLI commands; each imports its dependencies lazily."""
