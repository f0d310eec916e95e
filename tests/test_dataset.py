"""The shipped labelled data agrees with the segmenter and the codebook's label set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from classify.dataset import DataError, load_labelled
from classify.fileio import write_records
from classify.labels import LABELS

DATA = Path(__file__).resolve().parents[1] / "data" / "measures.jsonl"


def _corpus():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_corpus", DATA.parents[1] / "experiments" / "build_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    """Every measure the reader and segmenter cut from every notice of the corpus, with provenance."""
    with pytest.warns(UserWarning):  # the folders hold sources.jsonl beside the notices
        return _corpus().corpus_measures()


def _not_measures() -> set[str]:
    ids = set()
    for path in (DATA.parent / "labels").glob("*.jsonl"):
        ids |= {r["id"] for r in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if r.get("not_a_measure")}
    return ids


def test_labelled_ids_are_exactly_the_segmenter_ids(corpus):
    dropped = _not_measures()
    segmented = [m["id"] for m in corpus if m["id"] not in dropped]
    labelled = [json.loads(line)["id"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert labelled == segmented
    assert len(dropped) <= 10  # only a handful of cut-off fragments are not measures


def test_labelled_texts_and_provenance_match_segmenter(corpus):
    by_id = {m["id"]: m for m in corpus}
    df = load_labelled(DATA)
    for row in df.itertuples():
        m = by_id[row.id]
        assert row.text == m["text"] and row.text_simplified == m["text_simplified"]
        assert list(row.heading_path) == m["heading_path"]
        assert (row.issuer, row.issuer_kind, row.source) == (m["issuer"], m["issuer_kind"], m["source"])


def test_corpus_covers_many_issuers_and_every_category():
    from classify.notices.issuers import ISSUER_KINDS

    df = load_labelled(DATA)
    assert set(df["label"]) == set(LABELS)
    assert set(df["issuer_kind"]) <= set(ISSUER_KINDS) and set(df["source"]) == {"real", "synthetic"}
    new = df[df["issuer_kind"] != "science_bureau"]
    assert len(new) >= 350 and new["issuer"].nunique() >= 30 and new["issuer_kind"].nunique() >= 8
    counts = Counter(df["label"])
    assert counts["ideology"] >= 60 and counts["personnel"] >= 60 and counts["finance"] >= 90
    assert (new["label"] == "tech_policy").sum() >= 80  # line work of issuers that are not science bureaus
    real_new = new[new["source"] == "real"]
    assert real_new["url"].str.startswith("http").all()
    assert (df.groupby("label")["notice_id"].nunique() >= 2).all()
    assert df["secondary_label"].dropna().isin(LABELS).all()
    assert (df["secondary_label"].dropna() != df.loc[df["secondary_label"].notna(), "label"]).all()


def test_second_coder_covers_a_third_of_the_new_measures():
    second = [json.loads(line) for line in (DATA.parent / "second_coder_corpus.jsonl").read_text().splitlines()]
    df = load_labelled(DATA)
    new_ids = set(df.loc[df["issuer_kind"] != "science_bureau", "id"]) | _not_measures()
    ids = {r["id"] for r in second}
    assert len(ids) == len(second) and ids <= new_ids
    assert len(ids) >= 0.3 * len(new_ids)
    assert {r["label"] for r in second} <= set(LABELS)


def test_datasheet_counts_match_data():
    df = load_labelled(DATA)
    sheet = (DATA.parent / "README.md").read_text(encoding="utf-8")
    counts = Counter(df["label"])
    total_row = "| total | " + " | ".join(str(counts[lab]) for lab in LABELS) + f" | {len(df)} |"
    assert total_row in sheet
    for kind, part in df.groupby("issuer_kind"):
        row = f"| {kind} | " + " | ".join(str((part["label"] == lab).sum()) for lab in LABELS) + f" | {len(part)} |"
        assert row in sheet, kind


def test_loader_rejects_unknown_label_and_duplicates(tmp_path):
    rows = [{"id": "a", "notice_id": "n1", "text": "内容", "label": "finance"},
            {"id": "a", "notice_id": "n2", "text": "内容二", "label": "finance"}]
    p = tmp_path / "d.jsonl"
    write_records(rows, p)
    with pytest.raises(DataError, match=r"d.jsonl: duplicate id 'a' on lines 1, 2"):
        load_labelled(p)
    write_records([{**rows[0], "label": "sports"}], p)
    with pytest.raises(DataError, match=r"d.jsonl:1: unknown label 'sports'"):
        load_labelled(p)


def test_write_records_is_atomic_on_bad_suffix(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError):
        write_records([{"a": 1}], target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_sample_labels_match_segmenter_ids():
    # data/samples: synthetic notices of other issuers, labelled separately, for the benchmark's
    # out-of-domain check; they must stay attached to what the segmenter cuts.
    from classify.notices.reading import iter_notice_paths, read_notice
    from classify.notices.segmenting import segment_notice

    samples = DATA.parent / "samples"
    with pytest.warns(UserWarning, match="measures.jsonl"):
        paths = iter_notice_paths([samples])[0]
    ids = [m.id for p in paths for m in segment_notice(read_notice(p))]
    labelled = load_labelled(samples / "measures.jsonl")
    assert labelled["id"].tolist() == ids
    assert set(labelled["label"]) == set(LABELS)


def test_second_coder_sample_stays_attached():
    # data/second_coder_sample.jsonl: an independent second labelling of 80 measures (datasheet,
    # "Second coding"); its ids must stay those of labelled measures and its labels valid.
    import json

    second = [json.loads(line) for line in (DATA.parent / "second_coder_sample.jsonl").read_text().splitlines()]
    first = set(load_labelled(DATA)["id"])
    assert len(second) == 80 and len({r["id"] for r in second}) == 80
    assert {r["id"] for r in second} <= first
    assert {r["label"] for r in second} <= set(LABELS)
    assert {r["secondary_label"] for r in second} <= set(LABELS) | {None}


def test_seeds_are_byte_identical_to_shared_copies():
    repo = DATA.parents[1]
    shared = repo.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    ours = sorted(p.name for p in (repo / "seeds").iterdir())
    assert ours == sorted(p.name for p in shared.iterdir())
    for name in ours:
        assert (repo / "seeds" / name).read_bytes() == (shared / name).read_bytes(), name


def test_missing_simplified_text_is_made_from_published_text(tmp_path):
    p = tmp_path / "d.jsonl"
    write_records([{"id": "a", "notice_id": "n1", "text": "黨組學習", "label": "political_study"},
                   {"id": "b", "notice_id": "n2", "text": "規範報銷", "label": "finance", "text_simplified": None,
                    "heading_path": ["一、財務管理"]}], p)
    df = load_labelled(p)
    assert df["text_simplified"].tolist() == ["党组学习", "规范报销"]
    assert df["heading"].tolist() == ["", "一、財務管理"]
    from classify.inputs import HEADING, model_input

    assert model_input(df)[HEADING].tolist() == ["", "一、财务管理"]  # the model boundary simplifies headings
