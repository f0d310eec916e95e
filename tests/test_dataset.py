"""The shipped labelled data agrees with the segmenter and the codebook's label set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from classify.dataset import DataError, load_labelled, write_records
from classify.labels import LABELS

DATA = Path(__file__).resolve().parents[1] / "data" / "measures.jsonl"


def test_labelled_ids_are_exactly_the_segmenter_ids(seeds):
    segmented = [m.id for _, _, measures in seeds.values() for m in measures]
    labelled = [json.loads(line)["id"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert labelled == segmented


def test_labelled_texts_match_segmenter(seeds):
    by_id = {m.id: m for _, _, measures in seeds.values() for m in measures}
    df = load_labelled(DATA)
    for row in df.itertuples():
        m = by_id[row.id]
        assert row.text == m.text and row.text_simplified == m.text_simplified
        assert tuple(row.heading_path) == m.heading_path


def test_every_category_present_in_several_notices():
    df = load_labelled(DATA)
    assert 220 <= len(df) <= 320
    assert set(df["label"]) == set(LABELS)
    assert (df.groupby("label")["notice_id"].nunique() >= 2).all()
    assert df["secondary_label"].dropna().isin(LABELS).all()
    assert (df["secondary_label"].dropna() != df.loc[df["secondary_label"].notna(), "label"]).all()


def test_datasheet_counts_match_data():
    df = load_labelled(DATA)
    sheet = (DATA.parent / "README.md").read_text(encoding="utf-8")
    for label, n in Counter(df["label"]).items():
        assert f"| {label} | {n} |" in sheet or f"`{label}` | {n} |" in sheet, label


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
    from classify.reading import iter_notice_paths, read_notice
    from classify.segmenting import segment_notice

    samples = DATA.parent / "samples"
    ids = [m.id for p in iter_notice_paths([samples]) for m in segment_notice(read_notice(p))]
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
    assert df["heading_simplified"].tolist() == ["", "一、财务管理"]
