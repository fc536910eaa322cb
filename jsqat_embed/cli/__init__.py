"""Command-line interface: the only place that prints and chooses exit codes."""
