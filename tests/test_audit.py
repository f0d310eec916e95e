"""Label audit (classify/audit.py): likely label errors from out-of-fold probabilities (cleanlab), listed, written and
logged as a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import TFIDF_CONFIG, corpus_rows, run, write_jsonl

from classify.audit import label_issues
from classify.labels import prob_column


def test_label_issues_ranks_the_contradicted_label_first() -> None:
    labels = ("party_building", "internal_management", "line_work")  # any scheme's labels
    rng = np.random.default_rng(0)
    given = [labels[i % 3] for i in range(30)]
    proba = np.full((30, 3), 0.05)
    for i, lab in enumerate(given):
        proba[i, labels.index(lab)] = 0.9
    proba[7] = [0.02, 0.03, 0.95]  # labelled internal_management, every other measure says line_work
    proba += rng.uniform(0, 0.01, proba.shape)
    oof = pd.DataFrame({"id": [f"m{i}" for i in range(30)], "notice_id": "n", "issuer_kind": "other", "label": given,
                        "text": [f"text {i}" for i in range(30)],
                        **{prob_column(lab): proba[:, j] for j, lab in enumerate(labels)}})
    issues = label_issues(oof, labels)
    assert list(issues.columns) == ["id", "notice_id", "issuer_kind", "given", "suggested", "quality", "text"]
    assert issues.iloc[0][["id", "given", "suggested"]].tolist() == ["m7", "internal_management", "line_work"]


def test_audit_flags_a_planted_label_error_and_logs_it(store_copy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy.uri)
    rows = [r for r in corpus_rows() if r["issuer_kind"] == "science_bureau"]
    flipped = next(i for i, r in enumerate(rows) if r["label"] == "political_study" and "第一议题" in r["text"])
    rows[flipped] = {**rows[flipped], "label": "finance"}  # a planted label error
    data = write_jsonl(tmp_path / "planted.jsonl", rows)
    out = tmp_path / "issues.csv"
    code, printed, err = run(capsys, "audit", "--config", TFIDF_CONFIG, "--set", f"data.path={data}", "--out", out,
                             "--quiet")
    assert code == 0, err
    issues = pd.read_csv(out)
    assert rows[flipped]["id"] in set(issues["id"])
    assert issues.loc[issues["id"] == rows[flipped]["id"], "given"].item() == "finance"
    assert f"{len(issues)} measure(s) flagged; all of them in {out}" in printed
    client = MlflowClient(store_copy.uri)
    exp = client.get_experiment_by_name("classify")
    (audit,) = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'audit'")
    assert audit.data.metrics["label_issues"] == len(issues)
    assert "audit/label_issues.csv" in {a.path for a in client.list_artifacts(audit.info.run_id, "audit")}
