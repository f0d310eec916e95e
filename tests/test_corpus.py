"""The labelled corpus (classify/corpus.py, data/): ``classify corpus build``, and the shipped corpus agreeing with the
segmenter, the label files, the datasheet and the codebook's label set."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from helpers import DATA, REPO, SAMPLES, assert_one_line, read_jsonl, run, write_jsonl

from classify.corpus import build_corpus, corpus_measures, read_label_files
from classify.dataset import load_labelled
from classify.errors import DataError
from classify.labels import LABELS


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    """Every measure the reader and segmenter cut from every notice of the corpus, with provenance."""
    return corpus_measures(REPO)


def _not_measures() -> set[str]:
    ids = set()
    for path in (DATA.parent / "labels").glob("*.jsonl"):
        ids |= {r["id"] for r in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if r.get("not_a_measure")}
    return ids


# --- building ------------------------------------------------------------------------------------


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    """A corpus root with one seed and one synthetic sample."""
    root = tmp_path / "root"
    (root / "seeds").mkdir(parents=True)
    (root / "data" / "samples").mkdir(parents=True)
    shutil.copy(REPO / "seeds" / "001_069fa13e86ff3dc9.txt", root / "seeds")
    shutil.copy(SAMPLES / "synthetic_health_commission.txt", root / "data" / "samples")
    return root


def test_corpus_build_joins_labels_to_the_segmenters_measures(small_root: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    measures = corpus_measures(small_root)
    assert {(m["notice_id"], m["source"]) for m in measures} == {("001_069fa13e86ff3dc9", "real"),
                                                                  ("synthetic_health_commission", "synthetic")}
    first = [{"id": m["id"], "label": "finance"} for m in measures[:-1]]  # the last measure has no label
    first[1]["not_a_measure"] = True
    second = [{"id": measures[0]["id"], "label": "personnel", "secondary_label": "finance", "note": "relabelled"}]
    labels = [write_jsonl(tmp_path / "l1.jsonl", first), write_jsonl(tmp_path / "l2.jsonl", second)]
    out, unlabelled = tmp_path / "measures.jsonl", tmp_path / "todo.jsonl"
    code, stdout, err = run(capsys, "corpus", "build", "--labels", *labels, "--out", out, "--unlabelled-out", unlabelled,
                            "--root", small_root)
    assert code == 0, err
    assert stdout.strip() == (f"wrote {len(measures) - 2} labelled measures to {out}; 1 without a label, "
                              "1 marked not a measure")
    df = load_labelled(out)  # the corpus format load_labelled reads
    assert df["id"].tolist() == [m["id"] for m in measures[:-1] if m["id"] != measures[1]["id"]]
    assert (df.loc[0, "label"], df.loc[0, "secondary_label"], df.loc[0, "note"]) == ("personnel", "finance",
                                                                                    "relabelled")  # later file wins
    assert df.loc[0, "issuer_kind"] == "science_bureau" and set(df["source"]) == {"real", "synthetic"}
    assert [r["id"] for r in read_jsonl(unlabelled)] == [measures[-1]["id"]]


def test_a_label_without_an_id_is_one_line(small_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_jsonl(tmp_path / "l.jsonl", [{"label": "finance"}])
    with pytest.raises(DataError, match=r"l.jsonl:1: a label needs an 'id'"):
        read_label_files([bad])
    code, _, err = run(capsys, "corpus", "build", "--labels", bad, "--out", tmp_path / "m.jsonl", "--root", small_root)
    assert code == 2
    assert_one_line(err, "l.jsonl:1", "a label needs an 'id'")
    assert not (tmp_path / "m.jsonl").exists()


def test_build_corpus_returns_its_counts(small_root: Path, tmp_path: Path) -> None:
    measures = corpus_measures(small_root)
    labels = write_jsonl(tmp_path / "l.jsonl", [{"id": m["id"], "label": "tech_policy"} for m in measures])
    built = build_corpus([labels], out=tmp_path / "m.jsonl", root=small_root)
    assert (built.labelled, built.unlabelled, built.not_measures) == (len(measures), 0, 0)


# --- the shipped corpus -------------------------------------------------------------------------


def test_labelled_ids_are_exactly_the_segmenter_ids(corpus):
    dropped = _not_measures()
    segmented = [m["id"] for m in corpus if m["id"] not in dropped]
    labelled = [json.loads(line)["id"] for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert labelled == segmented
    # cut-off fragments of page openings and the segmenter's logged slips (problem lines, signatures;
    # experiments/corpus_notes): about 1% of what it cuts, not more
    assert len(dropped) <= 0.015 * len(segmented)


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
    # the second codings of releases 2, 3 and 4 (datasheet, "Coder agreement")
    second = [json.loads(line) for name in ("second_coder_corpus.jsonl", "second_coder_release3.jsonl",
                                              "second_coder_release4.jsonl")
              for line in (DATA.parent / name).read_text().splitlines()]
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


def test_sample_labels_match_segmenter_ids():
    # data/samples: synthetic notices of other issuers, labelled separately, for the benchmark's
    # out-of-domain check; they must stay attached to what the segmenter cuts.
    from classify.notices.reading import iter_notice_paths, read_notice
    from classify.notices.segmenting import segment_notice

    with pytest.warns(UserWarning, match="measures.jsonl"):
        paths = iter_notice_paths([SAMPLES])[0]
    ids = [m.id for p in paths for m in segment_notice(read_notice(p))]
    labelled = load_labelled(SAMPLES / "measures.jsonl")
    assert labelled["id"].tolist() == ids
    assert set(labelled["label"]) == set(LABELS)


def test_second_coder_sample_stays_attached():
    # data/second_coder_sample.jsonl: an independent second labelling of 80 measures (datasheet,
    # "Second coding"); its ids must stay those of labelled measures and its labels valid.
    second = [json.loads(line) for line in (DATA.parent / "second_coder_sample.jsonl").read_text().splitlines()]
    first = set(load_labelled(DATA)["id"])
    assert len(second) == 80 and len({r["id"] for r in second}) == 80
    assert {r["id"] for r in second} <= first
    assert {r["label"] for r in second} <= set(LABELS)
    assert {r["secondary_label"] for r in second} <= set(LABELS) | {None}


def test_seeds_are_byte_identical_to_shared_copies():
    shared = REPO.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    ours = sorted(p.name for p in (REPO / "seeds").iterdir())
    assert ours == sorted(p.name for p in shared.iterdir())
    for name in ours:
        assert (REPO / "seeds" / name).read_bytes() == (shared / name).read_bytes(), name
