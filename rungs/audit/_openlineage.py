"""OpenLineage export: `rungs export-lineage --format openlineage`.

One ``COMPLETE`` RunEvent per artifact, built with the ``openlineage-python`` client's model classes:

- job: namespace ``rungs`` (``--job-namespace``), name = the stage (``corpus``, ``cpt``, ...);
- run: a runId derived from the artifact id (the same artifact always exports as the same run, so a
  second export into Marquez updates instead of duplicating), ``nominalTime`` (start/end of the build),
  ``processing_engine`` (rungs version), ``parent`` (the Prefect flow run, when there was one) and
  ``rungs_run`` (resolved config, metrics, fingerprint, code version, packages, user, host);
- inputs: the input artifacts, and the raw source files the stage read (with their sha256);
- outputs: the artifact itself, with ``version`` (the artifact id), ``rungs_artifact`` (kind, ref,
  fingerprint, sha256 of every file, aliases) and ``outputStatistics`` (bytes, file count).

Datasets follow the OpenLineage naming for files: namespace ``file://<host>``, name = the path
(an artifact: its directory in the store). Events are printed as JSON lines, written to a file, or
POSTed to an OpenLineage endpoint such as Marquez (``--url http://localhost:5000``).
"""

from __future__ import annotations

import datetime as _dt
import socket
import uuid
from typing import Any, ClassVar

import attr
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    dataset_version_dataset,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
)
from openlineage.client.serde import Serde

from rungs import __version__
from rungs.kernel import RungsError
from rungs.store import Artifact, Store

PRODUCER = f"urn:rungs:{__version__}"  # who produced the metadata: this code, at this version
_SCHEMA = "urn:rungs:openlineage:facet:{name}:1-0-0"  # custom facets: no public schema to fetch
# A stable namespace for run ids: uuid5(artifact id) makes re-exports idempotent in Marquez.
_RUN_NAMESPACE = uuid.UUID("6b1c9a52-3f0e-4f5e-9d0a-2b9c7f1e4a10")


# --------------------------------------------------------------------------------------------------
# rungs' own facets (OpenLineage custom facets: prefixed names, their own schema URL)


@attr.define
class RungsArtifactDatasetFacet(DatasetFacet):
    """The artifact behind a dataset: what an auditor needs to check its bytes."""

    kind: str
    id: str
    ref: str
    version: int
    fingerprint: str
    createdAt: str
    files: dict[str, dict] = attr.field(factory=dict)  # relative path -> {sha256, bytes}
    aliases: list[str] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return _SCHEMA.format(name="RungsArtifactDatasetFacet")


@attr.define
class RungsFileDatasetFacet(DatasetFacet):
    """A raw source file a stage read (corpus text, instruction data, base weights)."""

    sha256: str
    bytes: int | None = None

    @staticmethod
    def _get_schema() -> str:
        return _SCHEMA.format(name="RungsFileDatasetFacet")


@attr.define
class RungsRunFacet(RunFacet):
    """How the artifact was made: the resolved config, its metrics, the code and the person."""

    fingerprint: str
    config: dict[str, Any] = attr.field(factory=dict)
    metrics: dict[str, Any] = attr.field(factory=dict)
    durationSeconds: float | None = None
    gitSha: str | None = None
    gitDirty: bool | None = None
    python: str | None = None
    packages: dict[str, str] = attr.field(factory=dict)
    user: str | None = None
    host: str | None = None
    prefect: dict[str, str] = attr.field(factory=dict)

    _additional_skip_redact: ClassVar[list[str]] = ["fingerprint", "gitSha"]

    @staticmethod
    def _get_schema() -> str:
        return _SCHEMA.format(name="RungsRunFacet")


# --------------------------------------------------------------------------------------------------
# building events


def _time(text: str) -> _dt.datetime:
    try:
        value = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise RungsError(f"artifact has no valid created_at ({text!r})") from None
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def _iso(value: _dt.datetime) -> str:
    return value.astimezone(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_id(art: Artifact) -> str:
    return str(uuid.uuid5(_RUN_NAMESPACE, art.id))


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def artifact_dataset_name(art: Artifact) -> str:
    return str(art.path)


def _artifact_facets(art: Artifact, aliases: list[str]) -> dict[str, DatasetFacet]:
    return {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=art.id, producer=PRODUCER),
        "rungs_artifact": RungsArtifactDatasetFacet(
            kind=art.kind,
            id=art.id,
            ref=art.ref,
            version=art.version,
            fingerprint=art.fingerprint,
            createdAt=art.created_at,
            files={rel: dict(entry) for rel, entry in art.files.items()},
            aliases=sorted(aliases),
            producer=PRODUCER,
        ),
    }


def run_event(
    store: Store,
    art: Artifact,
    *,
    namespace: str | None = None,
    job_namespace: str = "rungs",
    aliases: dict[str, list[str]] | None = None,
) -> RunEvent:
    """The COMPLETE RunEvent of the run that produced ``art``."""
    m = art.manifest
    run = m.get("run") or {}
    code = m.get("code") or {}
    aliases = aliases if aliases is not None else store.aliases_by_id()
    namespace = namespace or f"file://{socket.gethostname()}"
    source_namespace = f"file://{run.get('host') or socket.gethostname()}"
    end = _time(art.created_at)
    duration = m.get("duration_s")
    start = end - _dt.timedelta(seconds=float(duration)) if isinstance(duration, (int, float)) else end

    run_facets: dict[str, RunFacet] = {
        "nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_iso(start), nominalEndTime=_iso(end), producer=PRODUCER
        ),
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=str((code.get("packages") or {}).get("rungs") or __version__),
            name="rungs",
            openlineageAdapterVersion=_client_version(),
            producer=PRODUCER,
        ),
        "rungs_run": RungsRunFacet(
            fingerprint=art.fingerprint,
            config=art.config,
            metrics=art.metrics,
            durationSeconds=duration,
            gitSha=code.get("git_sha"),
            gitDirty=code.get("dirty"),
            python=code.get("python"),
            packages=dict(code.get("packages") or {}),
            user=run.get("user"),
            host=run.get("host"),
            prefect={k: str(v) for k, v in run.items() if k.startswith("prefect_")},
            producer=PRODUCER,
        ),
    }
    if _is_uuid(run.get("prefect_flow_run_id")):
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=str(run["prefect_flow_run_id"])),
            job=parent_run.Job(namespace=job_namespace, name="prefect.flow_run"),
            producer=PRODUCER,
        )

    inputs: list[InputDataset] = []
    for name, iid in sorted(art.inputs.items()):
        try:
            parent = store.get(iid)
        except RungsError:
            raise RungsError(f"{art.ref}: input {name}={iid} is not in the store; lineage cannot be exported") from None
        inputs.append(
            InputDataset(namespace=namespace, name=artifact_dataset_name(parent), facets=_artifact_facets(parent, aliases.get(parent.id, [])))
        )
    for path, detail in sorted((m.get("sources") or {}).items()):
        detail = detail if isinstance(detail, dict) else {}
        inputs.append(
            InputDataset(
                namespace=source_namespace,
                name=str(path),
                facets={"rungs_file": RungsFileDatasetFacet(sha256=str(detail.get("sha256", "")), bytes=detail.get("bytes"), producer=PRODUCER)},
            )
        )
    output = OutputDataset(
        namespace=namespace,
        name=artifact_dataset_name(art),
        facets=_artifact_facets(art, aliases.get(art.id, [])),
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                size=sum(int(e.get("bytes") or 0) for e in art.files.values()), fileCount=len(art.files), producer=PRODUCER
            )
        },
    )
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=_iso(end),
        run=Run(runId=run_id(art), facets=run_facets),
        job=Job(
            namespace=job_namespace,
            name=art.kind,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="RUNGS", jobType="STAGE", producer=PRODUCER
                )
            },
        ),
        inputs=inputs,
        outputs=[output],
        producer=PRODUCER,
    )


def _client_version() -> str:
    from openlineage.client.constants import __version__ as client_version

    return client_version


def select(store: Store, refs: list[str] | None, *, upstream: bool = True) -> list[Artifact]:
    """The artifacts to export, producers before consumers: REFs (and, by default, all upstream), or all."""
    if not refs:
        chosen = store.artifacts()
    else:
        ids = {store.resolve(r).id for r in refs}
        if upstream:
            ids = store.lineage_closure(ids)
        chosen = []
        for iid in ids:
            try:
                chosen.append(store.get(iid))
            except RungsError:
                continue  # a missing input is reported by the event of the artifact that needs it
    # producers before consumers even within one second of created_at (tiny stages are that fast)
    by_id = {a.id: a for a in chosen}
    depth: dict[str, int] = {}

    def level(a: Artifact) -> int:
        if a.id not in depth:
            depth[a.id] = 1 + max((level(by_id[i]) for i in a.inputs.values() if i in by_id), default=-1)
        return depth[a.id]

    return sorted(chosen, key=lambda a: (level(a), a.created_at, a.kind, a.version))


def run_events(
    store: Store, refs: list[str] | None = None, *, upstream: bool = True, namespace: str | None = None, job_namespace: str = "rungs"
) -> list[RunEvent]:
    aliases = store.aliases_by_id()
    return [
        run_event(store, a, namespace=namespace, job_namespace=job_namespace, aliases=aliases)
        for a in select(store, refs, upstream=upstream)
    ]


def to_json(event: RunEvent) -> str:
    """One event as one line of JSON (the client's own serialisation: nulls dropped, keys sorted)."""
    return Serde.to_json(event)


# --------------------------------------------------------------------------------------------------
# reading events back into model objects (what a consumer, or a test, checks them with)

_FACETS: dict[str, type] = {
    "nominalTime": nominal_time_run.NominalTimeRunFacet,
    "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    "rungs_run": RungsRunFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
    "rungs_artifact": RungsArtifactDatasetFacet,
    "rungs_file": RungsFileDatasetFacet,
    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
}


def _facet(key: str, data: dict) -> Any:
    if key == "parent":
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=data["run"]["runId"]),
            job=parent_run.Job(namespace=data["job"]["namespace"], name=data["job"]["name"]),
            producer=data["_producer"],
        )
    cls = _FACETS.get(key)
    if cls is None:
        raise ValueError(f"unknown facet {key!r}")
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    facet = cls(**fields, producer=data["_producer"])
    if facet._schemaURL != data.get("_schemaURL"):
        raise ValueError(f"facet {key}: _schemaURL {data.get('_schemaURL')!r}, expected {facet._schemaURL!r}")
    return facet


def _facets(data: dict | None) -> dict:
    return {k: _facet(k, v) for k, v in (data or {}).items()}


def event_from_dict(data: dict) -> RunEvent:
    """A RunEvent rebuilt from its JSON with the client's model classes (their validators run:
    ISO times, UUID runIds); raises ValueError/KeyError/TypeError on anything that does not fit."""
    event = RunEvent(
        eventType=RunState(data["eventType"]),
        eventTime=data["eventTime"],
        run=Run(runId=data["run"]["runId"], facets=_facets(data["run"].get("facets"))),
        job=Job(namespace=data["job"]["namespace"], name=data["job"]["name"], facets=_facets(data["job"].get("facets"))),
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"], facets=_facets(d.get("facets")), inputFacets=_facets(d.get("inputFacets")))
            for d in data.get("inputs") or []
        ],
        outputs=[
            OutputDataset(namespace=d["namespace"], name=d["name"], facets=_facets(d.get("facets")), outputFacets=_facets(d.get("outputFacets")))
            for d in data.get("outputs") or []
        ],
        producer=data["producer"],
    )
    if event.schemaURL != data.get("schemaURL"):
        raise ValueError(f"schemaURL {data.get('schemaURL')!r}, expected {event.schemaURL!r}")
    return event


# --------------------------------------------------------------------------------------------------
# sending


def post(events: list[RunEvent], url: str, *, endpoint: str = "api/v1/lineage", api_key: str | None = None) -> int:
    """POST each event to an OpenLineage HTTP endpoint (Marquez: http://host:5000); returns how many."""
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    # a few quick retries: a catalog that is down should fail the command in seconds, not a minute
    retry = {"total": 3, "connect": 3, "read": 3, "backoff_factor": 0.2}
    params: dict[str, Any] = {"url": url, "endpoint": endpoint, "timeout": 10.0, "retry": retry}
    if api_key:
        params["auth"] = {"type": "api_key", "apiKey": api_key}
    transport = HttpTransport(HttpConfig.from_dict(params))
    for event in events:
        transport.emit(event)
    return len(events)
