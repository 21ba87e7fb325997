"""Stages: one module per artifact kind, each a plain function from inputs and config to an artifact."""
