"""The audit side of the `rungs` command: ls, show, lineage, verify, alias, log."""

from __future__ import annotations

import json

import pytest

from rungs.cli import build_parser, main
from rungs.store import Store


def _publish(store: Store, kind: str, files: dict, inputs=None, metrics=None):
    with store.staging(kind) as out:
        for rel, content in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(content)
        return store.publish(
            kind,
            out,
            fingerprint=f"fp-{kind}-{len(store.artifacts(kind))}",
            inputs=inputs or {},
            config={kind: {"lr": 0.001, "steps": 10}},
            metrics=metrics or {},
            sources={},
            duration_s=1.25,
        )


@pytest.fixture
def chain(store_root):
    """corpus:v1 -> cpt:v1 -> sft:v1, and index:v1 from the corpus."""
    store = Store()
    corpus = _publish(store, "corpus", {"documents.txt": "aspirin thins the blood"}, metrics={"documents": 1})
    cpt = _publish(store, "cpt", {"model/weights.bin": "w" * 100}, {"corpus": corpus}, {"heldout_ppl": 12.5})
    sft = _publish(store, "sft", {"adapter/adapter.bin": "a" * 10}, {"model": cpt}, {"loss": 0.7})
    index = _publish(store, "index", {"index.faiss": "f"}, {"corpus": corpus})
    return {"store": store, "corpus": corpus, "cpt": cpt, "sft": sft, "index": index}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_describes_the_ladder_and_the_store(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "cpt" in out and "store" in out and "REF" in out
    for sub in ("ls", "show", "lineage", "verify", "alias"):
        assert sub in out
    # another engineer adds subcommands through build_parser()
    assert build_parser().parse_args(["ls", "--json"]).func.__name__ == "cmd_ls"


def test_ls_table_and_json(chain, capsys):
    code, out, _ = run(capsys, "ls")
    assert code == 0
    for ref in ("corpus:v1", "cpt:v1", "sft:v1", "index:v1"):
        assert ref in out
    assert chain["cpt"].id in out and "heldout_ppl=12.5" in out and "latest" in out

    code, out, _ = run(capsys, "ls", "--json")
    rows = json.loads(out)
    assert [r["ref"] for r in rows] == ["corpus:v1", "cpt:v1", "index:v1", "sft:v1"]
    cpt = rows[1]
    assert cpt["id"] == chain["cpt"].id and cpt["metrics"] == {"heldout_ppl": 12.5} and cpt["aliases"] == ["latest"]

    code, out, _ = run(capsys, "ls", "cpt", "--json")
    assert [r["ref"] for r in json.loads(out)] == ["cpt:v1"]


def test_show_readable_and_json(chain, capsys):
    code, out, _ = run(capsys, "show", "cpt")
    assert code == 0
    assert "cpt:v1" in out and chain["cpt"].id in out
    assert "model/weights.bin" in out and "corpus:v1" in out and chain["corpus"].id in out
    assert "cpt.lr" in out and "heldout_ppl" in out and "python" in out and "host" in out

    code, out, _ = run(capsys, "show", chain["sft"].id[:8], "--json")
    data = json.loads(out)
    assert data["ref"] == "sft:v1" and data["aliases"] == ["latest"]
    assert data["manifest"]["id"] == chain["sft"].id
    assert data["manifest"]["inputs"] == {"model": chain["cpt"].id}


def test_lineage_up_and_down(chain, capsys):
    code, out, _ = run(capsys, "lineage", "sft:v1")
    assert code == 0
    assert "sft:v1" in out and "cpt:v1" in out and "corpus:v1" in out and "index" not in out

    code, out, _ = run(capsys, "lineage", "corpus", "--down")
    assert code == 0
    for ref in ("cpt:v1", "sft:v1", "index:v1"):
        assert ref in out

    code, out, _ = run(capsys, "lineage", "sft", "--json")
    tree = json.loads(out)
    assert tree["ref"] == "sft:v1"
    assert tree["inputs"]["model"]["ref"] == "cpt:v1"
    assert tree["inputs"]["model"]["inputs"]["corpus"]["id"] == chain["corpus"].id

    code, out, _ = run(capsys, "lineage", "corpus:v1", "--down", "--json")
    tree = json.loads(out)
    assert [c["ref"] for c in tree["children"]] == ["cpt:v1", "index:v1"]
    assert [c["ref"] for c in tree["children"][0]["children"]] == ["sft:v1"]


def test_verify_ok_then_names_the_tampered_file(chain, capsys):
    code, out, _ = run(capsys, "verify", "--all")
    assert code == 0
    assert out.count("OK") == 4 + 3  # four artifacts, then the journal, the store's layout and the aliases

    code, out, _ = run(capsys, "verify", "cpt")
    assert code == 0 and "OK" in out and "cpt:v1" in out

    weights = chain["cpt"].path / "model" / "weights.bin"
    weights.write_text("w" * 99 + "x")  # one changed byte
    code, out, err = run(capsys, "verify", "--all")
    assert code == 1
    assert "model/weights.bin" in out and "FAIL" in out and "cpt:v1" in out
    assert out.count("OK") == 3 + 3 and "changed" in err

    code, out, _ = run(capsys, "verify", "cpt:v1", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert any("model/weights.bin" in p for p in report["artifacts"][0]["problems"])

    code, out, _ = run(capsys, "verify", "sft", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_alias_set_ls_and_log(chain, capsys):
    code, out, _ = run(capsys, "alias", "set", "production", "sft:v1", "--reason", "passed clinical review")
    assert code == 0 and "sft@production" in out and "sft:v1" in out

    code, out, _ = run(capsys, "alias", "ls", "--json")
    rows = json.loads(out)
    assert {"kind": "sft", "name": "production", "id": chain["sft"].id, "ref": "sft:v1"} in rows
    assert sum(r["name"] == "latest" for r in rows) == 4

    code, out, _ = run(capsys, "alias", "ls")
    assert code == 0 and "sft@production" in out

    code, out, _ = run(capsys, "show", "sft@production", "--json")
    assert json.loads(out)["manifest"]["id"] == chain["sft"].id

    code, out, _ = run(capsys, "log", "--json")
    moves = [e for e in json.loads(out) if e["event"] == "alias" and e["name"] == "production"]
    assert moves[-1]["to"] == chain["sft"].id and moves[-1]["reason"] == "passed clinical review"

    code, out, _ = run(capsys, "log")
    assert code == 0 and "passed clinical review" in out


def test_errors_are_one_line_with_exit_2(chain, capsys):
    code, out, err = run(capsys, "show", "cpt:v7")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "v1" in err
    code, _, err = run(capsys, "alias", "set", "production", "nothing-here")
    assert code == 2 and "error:" in err
    code, _, _ = run(capsys, "frobnicate")
    assert code == 2


def test_store_option_overrides_the_environment(chain, tmp_path, capsys):
    code, out, _ = run(capsys, "--store", str(tmp_path / "elsewhere"), "ls", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(capsys, "--store", str(chain["store"].root), "ls", "--json")
    assert len(json.loads(out)) == 4
