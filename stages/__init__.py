"""Stages: one module per artifact kind, each a plain function from input artifacts and config to an artifact.

A stage module holds how its kind is built: `VERSION` (bump when the output changes for the same inputs),
`CONFIG` (the config sections, or dotted keys, that shape the artifact), `sources(cfg)` (the raw files it
reads), optionally `needs(cfg)` (the inputs this config uses), and `run(cfg, inputs, out, progress,
scratch) -> metrics`. What the kind takes and is (its inputs, whether it trains or holds weights) is
declared once in the ladder (rungs.kernel). Stages import neither Prefect nor Hydra, and load torch and
the other heavy libraries inside `run`: rungs.pipeline imports a stage module to fingerprint it.
"""
