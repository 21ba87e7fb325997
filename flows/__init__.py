"""Prefect, and only here: a thin task per stage around rungs.pipeline's `build`, the `specialize` flow (the
ladder as a DAG, then the promotion gate), the one-stage `stage` flow, retries and timeouts per stage, and
the Dask shard mapper of the index stage."""
