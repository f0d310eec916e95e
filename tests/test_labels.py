"""The label scheme (classify/labels.py): shipped and file schemes, one-line errors for bad ones, a coarser scheme that
maps the corpus's labels, the codebook's anchors; and a three-category scheme end to end (train, predict, serve,
report)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SAMPLES, UNSEEN_SEED, run, write_jsonl

from classify.errors import ConfigError, DataError
from classify.labels import (
    LABELS,
    default_scheme,
    load_scheme,
    prob_column,
    scheme_for_labels,
    scheme_from_dict,
)

COARSE3 = ("party_building", "internal_management", "line_work")


# --- shipped schemes ----------------------------------------------------------------------------


def test_the_codebook_is_the_default_and_its_ids_are_labels() -> None:
    scheme = default_scheme()
    assert scheme.name == "codebook" and load_scheme() == scheme
    assert scheme.labels == LABELS == ("political_study", "ideology", "finance", "personnel", "tech_policy")
    assert scheme.prob_columns == [prob_column(lab) for lab in LABELS] == [f"prob_{lab}" for lab in LABELS]
    assert len(scheme) == 5 and "finance" in scheme and "sports" not in scheme and scheme.index("finance") == 2
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", scheme.colour(lab)) for lab in LABELS)
    assert len({scheme.colour(lab) for lab in LABELS}) == 5
    assert scheme.name_zh("finance") == "财务与资金监管" and scheme.category("ideology").name_en == "ideology"
    assert scheme.colour("sports") == "#7f7f7f" and scheme.name_zh("sports") == ""  # outside the scheme: grey, no name
    assert not scheme.maps_corpus and scheme.source_map() == {lab: lab for lab in LABELS}


def test_coarse3_unites_the_codebooks_five() -> None:
    scheme = load_scheme("coarse3")
    assert scheme.name == "coarse3" and scheme.labels == COARSE3 and scheme.maps_corpus
    assert scheme.source_map() == {"political_study": "party_building", "ideology": "party_building",
                                   "finance": "internal_management", "personnel": "internal_management",
                                   "tech_policy": "line_work"}
    # None stays None; a label the scheme does not know stays as it is (the data check names it)
    assert scheme.map_labels(["ideology", "personnel", "tech_policy", None, "sports"]) == [
        "party_building", "internal_management", "line_work", None, "sports"]
    assert scheme.name_zh("line_work") == "业务工作"


def test_a_scheme_file_loads_by_path_with_default_colours(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("categories:\n  - id: alpha\n    name_zh: 甲\n  - id: beta\n    colour: '#123456'\n",
                    encoding="utf-8")
    scheme = load_scheme(path)
    assert scheme.name == "mine" and scheme.labels == ("alpha", "beta")  # named after its file
    assert scheme.colour("alpha") == "#1f77b4" and scheme.colour("beta") == "#123456"  # tab10 where none is given
    assert load_scheme(str(path)) == scheme and scheme.name_zh("alpha") == "甲"


@pytest.mark.parametrize("name", ["codebook", "coarse3"])
def test_a_scheme_round_trips_through_its_dict(name: str) -> None:
    """A trained model saves its scheme as a dict and loads it back (trained_model.json)."""
    scheme = load_scheme(name)
    assert scheme_from_dict(scheme.to_dict(), "saved") == scheme


def test_scheme_for_labels_finds_the_shipped_scheme() -> None:
    assert scheme_for_labels(None) == default_scheme()
    assert scheme_for_labels(LABELS) == default_scheme()
    assert scheme_for_labels(COARSE3) == load_scheme("coarse3")
    plain = scheme_for_labels(("yes", "no"))  # e.g. predictions of a user's own scheme
    assert plain.labels == ("yes", "no") and plain.colour("yes") != plain.colour("no")


# --- bad schemes --------------------------------------------------------------------------------

_TWO = "  - id: alpha\n  - id: beta\n"
BAD_SCHEMES = {
    "not-yaml": ("categories: [\n", "not valid YAML"),
    "not-a-mapping": ("- alpha\n- beta\n", "a label scheme must be a mapping"),
    "unknown-key": (f"name: x\ncolours: []\ncategories:\n{_TWO}", "unknown key(s) colours"),
    "one-category": ("categories:\n  - id: alpha\n", "'categories' must list at least two categories"),
    "no-id": ("categories:\n  - name_zh: 甲\n  - id: beta\n", "categories[0]: needs an 'id'"),
    "bad-id": ("categories:\n  - id: Party-Building\n  - id: beta\n", "id 'Party-Building' must be lower-case"),
    "unknown-category-key": ("categories:\n  - id: alpha\n    color: '#000000'\n  - id: beta\n",
                             "categories[0]: unknown key(s) color"),
    "bad-colour": ("categories:\n  - id: alpha\n    colour: blue\n  - id: beta\n",
                   "colour 'blue' must look like #1f77b4"),
    "duplicate-id": ("categories:\n  - id: alpha\n  - id: alpha\n", "duplicate category id(s) alpha"),
    "from-not-a-list": ("categories:\n  - id: alpha\n    from: finance\n  - id: beta\n    from: [personnel]\n",
                        "'from' must be a list of label ids"),
    "from-on-some": ("categories:\n  - id: alpha\n    from: [finance]\n  - id: beta\n",
                     "either every category lists 'from' labels or none does"),
    "label-taken-twice": ("categories:\n  - id: alpha\n    from: [finance]\n  - id: beta\n    from: [finance]\n",
                          "label 'finance' is already taken by 'alpha'"),
    "decided-case": (f"categories:\n{_TWO}decided_cases:\n  - [规范报销, finance]\n",
                     "decided case ['规范报销', 'finance'] must be [text, one of alpha, beta]"),
}


@pytest.mark.parametrize("case", list(BAD_SCHEMES))
def test_a_bad_scheme_file_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    body, problem = BAD_SCHEMES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scheme(path)
    message = str(info.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message, message


def test_an_unknown_scheme_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match=r"label scheme 'coarse7': no such file or shipped scheme "
                                          r"\(shipped: coarse3, codebook\)"):
        load_scheme("coarse7")


# --- mapping the corpus -------------------------------------------------------------------------


def test_coarse3_reads_the_corpus_labels_as_its_own(tmp_path: Path) -> None:
    from classify.dataset import load_labelled

    rows = [{"id": "a", "notice_id": "n1", "text": "学习党章", "label": "political_study", "secondary_label": "ideology"},
            {"id": "b", "notice_id": "n2", "text": "规范报销", "label": "finance", "secondary_label": "tech_policy"},
            {"id": "c", "notice_id": "n2", "text": "科技项目", "label": "tech_policy"}]
    df = load_labelled(write_jsonl(tmp_path / "d.jsonl", rows), load_scheme("coarse3"))
    assert df["label"].tolist() == ["party_building", "internal_management", "line_work"]
    # a runner-up inside the same united category is no secondary label any more
    assert df["secondary_label"].tolist() == [None, "line_work", None]
    assert load_labelled(tmp_path / "d.jsonl")["label"].tolist() == ["political_study", "finance", "tech_policy"]
    # the data of a scheme with `from:` are labelled in the corpus's labels, not in the scheme's own
    write_jsonl(tmp_path / "own.jsonl", [{**rows[0], "label": "party_building", "secondary_label": None}])
    with pytest.raises(DataError, match=r"own.jsonl:1: unknown label 'party_building'"):
        load_labelled(tmp_path / "own.jsonl", load_scheme("coarse3"))


# --- anchors ------------------------------------------------------------------------------------


def test_the_codebooks_anchors_are_its_decided_cases_and_topic_lists() -> None:
    scheme = default_scheme()
    anchors = scheme.anchor_records()
    assert len(scheme.decided_cases) == 22  # the codebook's decided hard cases and the examples of rule 1
    assert anchors[0] == {"text": "对受处分干部实行“三对一”跟踪回访帮教", "label": "political_study"}
    assert anchors[:22] == [{"text": text, "label": label} for text, label in scheme.decided_cases]
    assert [a["label"] for a in anchors[22:]] == list(LABELS)  # one topic list per category
    assert all(a["text"] and a["label"] in scheme for a in anchors)


def test_coarse3_takes_the_codebooks_anchors_mapped_to_its_labels() -> None:
    coarse = load_scheme("coarse3")
    mapping = coarse.source_map()
    expected = [{"text": a["text"], "label": mapping[a["label"]]} for a in default_scheme().anchor_records()]
    assert coarse.anchor_records() == expected
    assert {a["label"] for a in expected} == set(COARSE3)
    plain = scheme_from_dict({"categories": [{"id": "yes"}, {"id": "no"}]}, "mine.yaml")
    assert plain.anchor_records() == []  # a scheme of its own labels and no anchors has none


# --- a three-category scheme end to end ---------------------------------------------------------


def test_a_three_category_scheme_trains_predicts_serves_and_reports(coarse3_store, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``label_scheme: coarse3`` through the whole product: the run's metrics, the local engine's rows, the served
    model's columns and signature, the report's legend all have the three categories and only them."""
    import mlflow
    from mlflow import MlflowClient

    from classify.schema import PredictionSchema

    store = coarse3_store
    coarse = load_scheme("coarse3")
    schema = PredictionSchema.of(coarse)

    # trained on the corpus's five labels, read as three
    assert "labels: coarse3" in store.train_output and "promoted" in store.train_output
    run_ = MlflowClient(store.uri).get_run(store.run_id)
    assert run_.data.tags["label_scheme"] == "coarse3"
    metrics = run_.data.metrics
    for lab in COARSE3:
        assert f"lono_f1_{lab}" in metrics and f"loiko_recall_{lab}" in metrics
    assert not [k for k in metrics if any(k.endswith(f"_{lab}") for lab in LABELS)]

    # predicted with the local engine on notices
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    out = tmp_path / "p.csv"
    code, stdout, err = run(capsys, "predict", UNSEEN_SEED, SAMPLES, "--model", store.model_uri, "--out", out,
                            "--quiet")
    assert code == 0, err
    rows = pd.read_csv(out)
    assert list(rows.columns) == schema.row_names()
    assert set(rows["label"]) <= set(COARSE3) and rows["notice"].nunique() == 5
    probs = rows[coarse.prob_columns].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert stdout.splitlines()[1].split() == ["notice", *COARSE3, "measures", "review"]  # after "model: …"

    # served: the logged pyfunc model, loaded afresh from the store
    info = mlflow.models.get_model_info(store.model_uri)
    assert info.signature.outputs.input_names() == schema.output_names
    served = mlflow.pyfunc.load_model(store.model_uri).predict(
        pd.DataFrame({"text": ["规范财务报销审批,5万元以上支出集体研究。", "落实第一议题制度,开展理论学习。"]}))
    assert [c for c in served.columns if c.startswith("prob_")] == coarse.prob_columns
    assert list(served.columns) == schema.output_names and set(served["label"]) <= set(COARSE3)

    # reported: the page knows the scheme from the file's prob_ columns
    page = tmp_path / "r.html"
    code, _, err = run(capsys, "report", out, "--out", page, "--model", store.model_uri)
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    for lab in COARSE3:
        assert f'background:{coarse.colour(lab)}"></i>{lab} {coarse.name_zh(lab)}</span>' in html
    assert "tech_policy" not in html and "<th>label_scheme</th><td>coarse3</td>" in html
