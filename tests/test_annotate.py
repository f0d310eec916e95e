"""Label Studio annotation without a server: the labelling interface names every category of a scheme, the
import file keeps a blind sample blind, a Label Studio export reads back into annotation rows, agreement
numbers, and bad exports, samples and servers are one-line errors that write nothing."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from classify.annotate import (
    LABEL,
    SECONDARY,
    TASK_FIELDS,
    TEXT,
    LabelStudioError,
    agreement,
    export_tasks,
    labelling_config,
    parse_export,
    pull,
    push,
    read_export,
    read_sample,
    summary,
)
from classify.errors import ClassifyError, ConfigError, InputError
from classify.labels import load_scheme

REPO = Path(__file__).resolve().parents[1]
MEASURES = REPO / "data" / "measures.jsonl"


def sample_rows(n: int = 6, purpose: str = "validation") -> list[dict]:
    """The first ``n`` corpus measures as rows of a ``classify sample`` file (the corpus label as model label)."""
    rows = []
    with open(MEASURES, encoding="utf-8") as fh:
        for line in fh:
            m = json.loads(line)
            row = {"id": m["id"], "notice": m["notice_id"], "issuer": m["issuer"], "issuer_kind": m["issuer_kind"],
                   "date": m["date"], "heading": m["heading"], "text": m["text"], "stratum": m["label"],
                   "inclusion_probability": 0.25, "weight": 4.0, "seed": 7, "predictions_sha256": "ab" * 32,
                   "purpose": purpose}
            if purpose == "review":
                row["model_label"] = m["label"]
            rows.append(row)
            if len(rows) == n:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def choice(name: str, value: str) -> dict:
    return {"from_name": name, "to_name": TEXT, "type": "choices", "value": {"choices": [value]}}


def annotated(tasks: list[dict], coded: dict[str, list[tuple]]) -> list[dict]:
    """Label Studio's JSON export of imported ``tasks``: ``coded`` maps a measure id to
    (annotator id, label, secondary label or None, time) tuples."""
    out = []
    for n, task in enumerate(tasks, 1):
        anns = []
        for k, (who, label, secondary, time) in enumerate(coded.get(task["data"]["id"], []), 1):
            result = [choice(LABEL, label)] + ([choice(SECONDARY, secondary)] if secondary else [])
            anns.append({"id": 100 * n + k, "completed_by": who, "result": result, "was_cancelled": False,
                         "ground_truth": False, "created_at": time, "updated_at": time, "lead_time": 12.5,
                         "task": n, "project": 3})
        out.append({"id": n, "annotations": anns, "drafts": [], "predictions": [], "data": task["data"],
                    "meta": {}, "created_at": "2026-12-01T08:00:00Z", "project": 3})
    return out


# -- the labelling interface ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["codebook", "coarse3"])
def test_labelling_config_names_every_category(name: str) -> None:
    scheme = load_scheme(name)
    root = ET.fromstring(labelling_config(scheme))
    assert root.tag == "View"
    text = root.find(".//Text")
    assert text is not None and text.get("name") == TEXT and text.get("value") == "$text"
    headers = [h.get("value") for h in root.iter("Header")]
    assert headers[:2] == ["$issuer", "$heading"]  # the issuer and heading path above the measure
    choices = {c.get("name"): c for c in root.iter("Choices")}
    assert set(choices) == {LABEL, SECONDARY}
    primary, secondary = choices[LABEL], choices[SECONDARY]
    assert primary.get("toName") == TEXT and primary.get("required") == "true"
    assert primary.get("choice") == "single-radio"  # one label, required
    assert secondary.get("required") == "false" and secondary.get("choice") == "single"  # optional, clearable
    assert [c.get("value") for c in primary] == list(scheme.labels)
    assert [c.get("value") for c in secondary] == list(scheme.labels)
    for cat, elem in zip(scheme.categories, primary, strict=True):
        shown = elem.get("html")
        assert cat.name_zh in shown and cat.name_en in shown and cat.hint_zh in shown, cat.id
        assert ET.fromstring(f"<div>{shown}</div>") is not None  # the shown HTML is well-formed
    assert len(primary) == len(scheme)


def test_labelling_config_is_one_label_studio_accepts() -> None:
    """Label Studio's own parser (from the SDK) reads the interface: one text, two choice controls."""
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed (pip install '.[annotate]')")
    from label_studio_sdk.label_interface import LabelInterface

    interface = LabelInterface(labelling_config())
    assert {c.name for c in interface.controls} == {LABEL, SECONDARY}
    assert [o.name for o in interface.objects] == [TEXT]
    assert interface.get_control(LABEL).labels == list(load_scheme().labels)


# -- the import file and the export ---------------------------------------------------------------------


def test_blind_import_file_carries_no_model_label_and_reads_back(tmp_path: Path) -> None:
    rows = sample_rows(6)
    sample = write_jsonl(tmp_path / "sample.jsonl", rows)
    n = export_tasks(sample, tmp_path / "tasks.json", config_out=tmp_path / "config.xml")
    assert n == 6
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    assert [t["data"]["id"] for t in tasks] == [r["id"] for r in rows]
    for task, row in zip(tasks, rows, strict=True):
        assert set(task) == {"data"}  # no predictions in a blind sample
        assert set(task["data"]) == set(TASK_FIELDS)  # nor the stratum, weight or anything of the model's
        assert task["data"]["text"] == row["text"] and task["data"]["heading"] == row["heading"]
        assert task["data"]["issuer"] == row["issuer"] and task["data"]["notice"] == row["notice"]
    assert ET.parse(tmp_path / "config.xml").getroot().tag == "View"
    # coded in Label Studio: two annotators on the first three measures, one on the rest
    ids = [r["id"] for r in rows]
    coded = {mid: [(1, rows[i]["stratum"], None, f"2026-12-02T09:0{i}:00Z")] for i, mid in enumerate(ids)}
    coded[ids[0]].append((2, rows[0]["stratum"], "finance", "2026-12-02T10:00:00Z"))
    coded[ids[1]].append((2, "personnel" if rows[1]["stratum"] != "personnel" else "finance", None,
                          "2026-12-02T10:01:00Z"))
    coded[ids[2]].append((2, rows[2]["stratum"], None, "2026-12-02T10:02:00Z"))
    export = tmp_path / "export.json"
    export.write_text(json.dumps(annotated(tasks, coded), ensure_ascii=False), encoding="utf-8")
    got = read_export(export)
    assert len(got) == 9
    assert {(r["id"], r["annotator"]) for r in got} == {(m, 1) for m in ids} | {(m, 2) for m in ids[:3]}
    by = {(r["id"], r["annotator"]): r for r in got}
    for i, mid in enumerate(ids):
        assert by[mid, 1]["label"] == rows[i]["stratum"]
        assert by[mid, 1]["secondary_label"] is None and by[mid, 1]["lead_time"] == 12.5
        assert by[mid, 1]["time"] == f"2026-12-02T09:0{i}:00Z"
    assert by[ids[0], 2]["secondary_label"] == ("finance" if rows[0]["stratum"] != "finance" else None)
    assert set(got[0]) == {"id", "label", "secondary_label", "annotator", "time", "lead_time"}
    agr = agreement(got)
    assert agr["items"] == 3 and agr["agreement"] == pytest.approx(2 / 3) and agr["measures"] == 6
    assert "3 coded twice: agreement 66.7%" in summary(got)


def test_review_import_file_pre_annotates_the_model_label(tmp_path: Path) -> None:
    rows = sample_rows(3, purpose="review")
    rows[0]["confidence"] = 0.83
    export_tasks(write_jsonl(tmp_path / "review.jsonl", rows), tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    for task, row in zip(tasks, rows, strict=True):
        assert set(task["data"]) == set(TASK_FIELDS)
        (pred,) = task["predictions"]
        assert pred["result"] == [choice(LABEL, row["model_label"])]
    assert tasks[0]["predictions"][0]["score"] == 0.83


def test_export_reads_emails_and_keeps_an_annotators_last_submission() -> None:
    data = {"id": "m1", "text": "加强学习。"}
    export = [{"id": 1, "data": data, "annotations": [
        {"completed_by": {"id": 5, "email": "a@x.org"}, "result": [choice(LABEL, "finance")],
         "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z"},
        {"completed_by": {"id": 5, "email": "a@x.org"}, "result": [choice(LABEL, "personnel")],
         "created_at": "2026-12-02T11:00:00Z", "updated_at": "2026-12-02T11:00:00Z"},
        {"completed_by": 6, "result": [], "was_cancelled": True},  # skipped: no label
        {"completed_by": 7, "result": [choice(LABEL, "ideology"), choice(SECONDARY, "ideology")],
         "created_at": "2026-12-02T12:00:00Z"}]}]
    rows = parse_export(export, users={7: "c@x.org"})
    assert [(r["annotator"], r["label"], r["secondary_label"]) for r in rows] == [
        ("a@x.org", "personnel", None), ("c@x.org", "ideology", None)]


def test_coarse_scheme_reads_its_own_labels(tmp_path: Path) -> None:
    coarse = load_scheme("coarse3")
    export = [{"id": 1, "data": {"id": "m1"}, "annotations": [
        {"completed_by": 1, "result": [choice(LABEL, "line_work")], "created_at": "2026-12-02T09:00:00Z"}]}]
    assert parse_export(export, coarse)[0]["label"] == "line_work"
    with pytest.raises(InputError, match="'line_work', which is not in label scheme 'codebook'"):
        parse_export(export)


# -- agreement ------------------------------------------------------------------------------------------


def test_agreement_share_and_kappa_by_hand() -> None:
    pairs = [("finance", "finance"), ("finance", "finance"), ("personnel", "personnel"),
             ("personnel", "finance"), ("ideology", "ideology"), ("finance", "personnel")]
    rows = []
    for i, (a, b) in enumerate(pairs):
        rows.append({"id": f"m{i}", "label": a, "annotator": "a@x", "time": f"2026-12-02T09:0{i}:00Z"})
        rows.append({"id": f"m{i}", "label": b, "annotator": f"b{i % 2}@x", "time": f"2026-12-02T10:0{i}:00Z"})
    rows.append({"id": "single", "label": "finance", "annotator": "a@x", "time": "2026-12-02T11:00:00Z"})
    agr = agreement(rows)
    # observed 4/6; expected from the marginals: first coder f 3, p 2, i 1; second f 3, p 2, i 1 (of 6)
    p_o = 4 / 6
    p_e = (3 * 3 + 2 * 2 + 1 * 1) / 36
    assert agr["items"] == 6 and agr["measures"] == 7
    assert agr["agreement"] == pytest.approx(p_o)
    assert agr["kappa"] == pytest.approx((p_o - p_e) / (1 - p_e))
    assert agr["pairs"] == {"a@x & b0@x": 3, "a@x & b1@x": 3}
    assert agr["annotators"] == ["a@x", "b0@x", "b1@x"]


def test_agreement_without_double_coding_and_when_kappa_is_undefined() -> None:
    one = [{"id": "m1", "label": "finance", "annotator": 1, "time": "t1"}]
    assert agreement(one) == {"items": 0, "agreement": None, "kappa": None, "pairs": {}, "measures": 1,
                              "annotators": ["1"]}
    same = [{"id": f"m{i}", "label": "finance", "annotator": a, "time": f"t{a}"} for i in range(3) for a in (1, 2)]
    agr = agreement(same)
    assert agr["items"] == 3 and agr["agreement"] == 1.0 and agr["kappa"] is None  # one category only
    assert "Cohen's kappa n/a" in summary(same)


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not valid JSON"),
    ('{"tasks": []}', "expected a list of tasks"),
    ('[{"id": 1, "data": {"id": "m1"}}]', "no 'data' or 'annotations'"),
    ('[{"id": 1, "data": {"text": "x"}, "annotations": []}]', "no measure id"),
    ('[{"id": 1, "data": {"id": "m1"}, "annotations": [{"completed_by": 1, "result": '
     '[{"from_name": "label", "type": "choices", "value": {"choices": ["politics"]}}]}]}]',
     "measure 'm1' has label 'politics', which is not in label scheme 'codebook'"),
    ('[{"id": 1, "data": {"id": "m1"}, "annotations": [{"completed_by": 1, "result": '
     '[{"from_name": "label", "type": "choices", "value": {"choices": ["finance", "ideology"]}}]}]}]',
     "2 labels in one annotation"),
])
def test_bad_export_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        read_export(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_export_and_bad_samples(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_export(tmp_path / "none.json")
    rows = sample_rows(2)
    with pytest.raises(InputError, match="is also on line 1"):
        read_sample(write_jsonl(tmp_path / "dup.jsonl", [rows[0], rows[0]]))
    mixed = [rows[0], {**rows[1], "purpose": "review", "model_label": "finance"}]
    with pytest.raises(InputError, match="mixes purposes"):
        read_sample(write_jsonl(tmp_path / "mixed.jsonl", mixed))
    review = [{**rows[0], "purpose": "review"}]
    with pytest.raises(InputError, match="model_label None"):
        read_sample(write_jsonl(tmp_path / "review.jsonl", review))
    with pytest.raises(InputError, match="needs a non-empty 'text'"):
        read_sample(write_jsonl(tmp_path / "notext.jsonl", [{**rows[0], "text": " "}]))
    out = tmp_path / "tasks.json"
    with pytest.raises(InputError):
        export_tasks(tmp_path / "mixed.jsonl", out)
    assert not out.exists()  # nothing half-written


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_one_line_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed (pip install '.[annotate]')")
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = tmp_path / "annotations.jsonl"
    with pytest.raises(LabelStudioError, match=f"Label Studio at {url} is not reachable") as info:
        pull(url=url, api_key="abc123", project=1, out=out)
    assert "\n" not in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    sample = write_jsonl(tmp_path / "sample.jsonl", sample_rows(2))
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "abc123")
    with pytest.raises(LabelStudioError, match="is not reachable"):
        push(sample)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    with pytest.raises(ConfigError, match="LABEL_STUDIO_API_KEY"):
        push(sample)
    assert issubclass(LabelStudioError, ClassifyError)


def test_a_web_server_that_is_not_label_studio(tmp_path: Path) -> None:
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed (pip install '.[annotate]')")
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with pytest.raises(LabelStudioError, match=f"{url} does not answer like Label Studio") as info:
            pull(url=url, api_key="abc123", project=1, out=tmp_path / "a.jsonl")
        assert "\n" not in str(info.value) and not (tmp_path / "a.jsonl").exists()
    finally:
        httpd.shutdown()
        httpd.server_close()
