"""The pipeline as a DAG: each stage of a run waits for the stages that produce its declared inputs.

The edges come from the ladder (rungs.kernel): an input named in a stage's declaration is wired to the
first of its accepted kinds that this run builds (sft's model is cpt in the full pipeline, base in
pipeline=sft). So `index` needs only `corpus` and runs beside `base` and `cpt`; `sft` waits for `cpt`
and `index`; `evaluate` for everything it measures.
"""

from __future__ import annotations

from rungs.kernel import KINDS, ConfigError, RungsConfig, rung

from ._stages import needs


def wiring(cfg: RungsConfig, stages: list[str] | tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """kind -> {input name: the kind of this run that provides it}, for every stage of the run in build order.

    A required input that no stage of the run produces is an error now, before anything is built.
    """
    chosen = set(stages if stages is not None else cfg.pipeline.stages)
    out: dict[str, dict[str, str]] = {}
    for kind in (k for k in KINDS if k in chosen):  # the ladder's order is a topological order
        declared = rung(kind)
        wanted = needs(kind, cfg)
        wires = {}
        for name, kinds in declared.inputs.items():
            if name not in wanted:
                continue
            producer = next((k for k in kinds if k in out), None)
            if producer is not None:
                wires[name] = producer
            elif name not in declared.optional:
                raise ConfigError(
                    f"pipeline.stages={sorted(chosen, key=KINDS.index)}: stage {kind} needs input '{name}' "
                    f"({' or '.join(kinds)}) and no stage of this pipeline builds it"
                )
        out[kind] = wires
    return out


def upstream(wires: dict[str, dict[str, str]], kind: str) -> list[str]:
    """The stages `kind` waits for, in build order."""
    return sorted(set(wires[kind].values()), key=KINDS.index)
