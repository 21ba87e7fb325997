"""Running the ladder: stages loaded, fingerprinted, reused or built and published; the run as a DAG.

- the one place that loads stage modules (`stage_module`), and a stage's fingerprint (stage VERSION,
  config, input fingerprints, raw file hashes): the store is the cache;
- `build` one stage (a stored fingerprint is reused; a training stage on several processes is launched
  with torchrun), `resolve_inputs` for a one-stage run;
- `wiring`: the run's DAG from the ladder's declared inputs; `run_status`: what a run would reuse or
  build, and why, without running it;
- the memory plan of a model x hardware (`estimate`, `fits`, `suggest`) and the strategy quiz's advice.

flows/ wraps `build` in Prefect tasks; `rungs status`, `rungs plan` and `rungs advise` use the rest.
Import from here, never from the private modules.
"""

from ._advice import QUESTIONS, RUNG_INFO, RUNGS, VARIANTS, Advice, Option, Question, advise, score
from ._cards import metrics_markdown
from ._graph import upstream, wiring
from ._launch import WorkerError, launch
from ._memory import COMPONENTS, GiB, StagePlan, count_params, estimate, fits, lora_params, peak_rss, suggest
from ._runner import BuildResult, build, resolve_inputs
from ._stages import fingerprint, needs, stage_config, stage_module, stage_sources
from ._status import StageStatus, run_status

__all__ = [
    "COMPONENTS", "QUESTIONS", "RUNGS", "RUNG_INFO", "VARIANTS", "Advice", "BuildResult", "GiB", "Option", "Question",
    "StagePlan", "StageStatus", "WorkerError", "advise", "build", "count_params", "estimate", "fingerprint", "fits",
    "launch", "lora_params", "metrics_markdown", "needs", "peak_rss", "resolve_inputs", "run_status", "score",
    "stage_config", "stage_module", "stage_sources", "suggest", "upstream", "wiring",
]
