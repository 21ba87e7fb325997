"""The house rules: the import contract holds, the CLI and fingerprinting stay light, every module says what it holds."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from rungs.kernel import KINDS, LADDER, PIPELINE, PROJECT_ROOT, compose
from rungs.pipeline import wiring

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
HEAVY = ("torch", "transformers", "prefect", "openlineage")


def _loaded_after(code: str) -> list[str]:
    """Which of HEAVY (and their submodules) a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_import_contract_holds():
    """pyproject.toml [tool.importlinter]: layers, nothing imports the CLI, only flows/ imports Prefect,
    stages import neither Prefect nor Hydra, only the kernel runs Hydra, private modules stay private."""
    done = subprocess.run([str(LINT_IMPORTS)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_cli_and_its_help_load_no_heavy_library():
    assert _loaded_after("import rungs.cli") == []
    assert _loaded_after("from rungs.cli import main\nassert main(['--help']) == 0") == []
    assert _loaded_after("from rungs.cli import main\nassert main(['run', '--help']) == 0") == []


def test_fingerprinting_the_whole_ladder_loads_no_torch(tmp_path):
    """`rungs status` loads every stage module, hashes every raw file and fingerprints every stage."""
    code = (
        "from rungs.kernel import compose\nfrom rungs.pipeline import run_status\nfrom rungs.store import Store\n"
        f"stages = run_status(compose(['model=tiny']), Store({str(tmp_path)!r}))\n"
        "assert [s.kind for s in stages] == ['corpus', 'base', 'cpt', 'index', 'triage', 'sft', 'evaluate']\n"
        "assert len({s.fingerprint for s in stages}) == 7 and not any(s.cached for s in stages)"
    )
    assert not set(_loaded_after(code)) & {"torch", "transformers"}


def test_the_ladder_is_declared_once_and_the_dag_follows_it():
    assert PIPELINE == ("corpus", "base", "cpt", "index", "triage", "sft", "evaluate") and KINDS[-1] == "merge"
    assert compose(["model=tiny"]).pipeline.stages == list(PIPELINE)
    wires = wiring(compose(["model=tiny"]))
    assert wires["index"] == {"corpus": "corpus"}  # needs nothing from cpt or sft: runs beside them
    assert wires["triage"] == {}  # raw labelled messages only: runs at once, beside everything
    assert wires["cpt"] == {"base": "base", "corpus": "corpus"}
    assert wires["sft"] == {"model": "cpt", "index": "index"}
    assert set(wires["evaluate"].values()) == {"corpus", "base", "cpt", "sft", "index", "triage"}
    assert wiring(compose(["model=tiny", "pipeline=sft"]))["sft"]["model"] == "base"  # no cpt: the base model
    assert wiring(compose(["model=gemma3-270m"]))["base"] == {}  # a real model brings its tokenizer: no corpus
    # no stage module declares what the ladder declares
    for rung in LADDER:
        source = (PROJECT_ROOT / "stages" / f"{rung.kind}.py").read_text()
        assert "INPUTS" not in source and "OPTIONAL" not in source, rung.kind


def test_every_module_says_what_it_holds():
    missing = []
    for folder in ("rungs", "stages", "flows"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text()))
            if not doc or len(doc.split()) < 5:
                missing.append(str(path.relative_to(PROJECT_ROOT)))
    assert not missing, f"modules without a docstring that says what they hold: {missing}"


def test_every_room_is_a_package_in_the_contract():
    """No flat module beside rungs/__init__.py; every package under rungs/ has a place in the layers."""
    import tomllib

    rungs_dir = PROJECT_ROOT / "rungs"
    assert sorted(p.name for p in rungs_dir.glob("*.py")) == ["__init__.py"]
    packages = {p.parent.name for p in rungs_dir.glob("*/__init__.py")}
    contracts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    layered = {name.strip().removeprefix("rungs.") for layer in layers for name in layer.split("|")}
    assert packages <= layered, f"packages outside the layers contract: {sorted(packages - layered)}"
