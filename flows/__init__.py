"""Prefect flows: thin tasks around rungs.runner.build, and the `specialize` pipeline flow."""
