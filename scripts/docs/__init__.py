"""The documentation's generated tables and figures, from the run records committed to the repository."""
