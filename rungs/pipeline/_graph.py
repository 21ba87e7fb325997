"""The pipeline as a DAG: each stage of a run waits for the stages that produce its declared inputs.

The edges come from the ladder (rungs.kernel): an input named in a stage's declaration is wired to the
first of its accepted kinds that this run builds (sft's model is cpt in the full pipeline, base in
pipeline=sft). So `index` needs only `corpus` and runs beside `base` and `cpt`; `triage` needs no
artifact and runs at once; `sft` waits for `cpt` and `index`; `evaluate` for everything it measures.
"""

from __future__ import annotations

from rungs.kernel import KINDS, ConfigError, RungsConfig

from ._stages import choose_inputs


def wiring(cfg: RungsConfig, stages: list[str] | tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """kind -> {input name: the kind of this run that provides it}, for every stage of the run in build order.

    A required input that no stage of the run produces is an error now, before anything is built.
    """
    chosen = set(stages if stages is not None else cfg.pipeline.stages)
    ordered = [k for k in KINDS if k in chosen]  # the ladder's order is a topological order

    def missing(kind: str):
        return lambda name, kinds: ConfigError(
            f"pipeline.stages={ordered}: stage {kind} needs input '{name}' ({' or '.join(kinds)}) and no stage of "
            "this pipeline builds it"
        )

    out: dict[str, dict[str, str]] = {}
    for kind in ordered:
        out[kind] = choose_inputs(kind, cfg, lambda k: k if k in out else None, missing(kind))
    return out


def upstream(wires: dict[str, dict[str, str]], kind: str) -> list[str]:
    """The stages `kind` waits for, in build order."""
    return sorted(set(wires[kind].values()), key=KINDS.index)
