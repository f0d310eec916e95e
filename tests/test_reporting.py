"""The HTML report (classify/reporting.py): its numbers are the predictions file's, it needs no network, it renders (a
headless-Chromium screenshot that is not blank), it refuses a file that is not predictions, and the command finds a
model card when it can."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import REGISTERED, SAMPLES, assert_one_line, read_jsonl, run

from classify.cli import main
from classify.errors import InputError
from classify.labels import LABELS
from classify.reporting import build_report, read_predictions, report_numbers

CHROMIUM = Path("/usr/bin/chromium")
HEADER = "notice,file,id,issuer,issuer_kind,date,heading,text,label,confidence,needs_review,secondary_label\n"


@pytest.fixture(scope="module")
def predicted(trained_store, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The trained store's predictions for data/samples as JSONL (with explanations) and CSV."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
        # review below 0.9 so that the queue is never empty, whatever the subset model's threshold
        assert main(["predict", str(SAMPLES), "--out", str(root / "p.jsonl"), "--explain", "--review-below", "0.9",
                     "--quiet"]) == 0
        assert main(["predict", str(SAMPLES), "--out", str(root / "p.csv"), "--review-below", "0.9", "--quiet"]) == 0
    return {"root": root, "uri": trained_store.uri, "jsonl": root / "p.jsonl", "csv": root / "p.csv"}


def expected_numbers(path: Path) -> dict:
    """The counts recomputed from the file with plain pandas, independently of classify.reporting."""
    df = pd.DataFrame(read_jsonl(path))
    table = pd.crosstab(df["notice"], df["label"]).reindex(columns=list(LABELS), fill_value=0)
    kinds = pd.crosstab(df["issuer_kind"].fillna("unknown"), df["label"]).reindex(columns=list(LABELS), fill_value=0)
    dated = df[df["date"].notna()]
    years = pd.crosstab(dated["date"].str.slice(0, 4), dated["label"]).reindex(columns=list(LABELS), fill_value=0)
    as_dict = lambda t: {str(i): {lab: int(t.loc[i, lab]) for lab in LABELS} for i in t.index}  # noqa: E731
    return {"per_notice": as_dict(table), "per_kind": as_dict(kinds), "per_year": as_dict(years),
            "review": int(df["needs_review"].sum()), "measures": len(df), "notices": df["notice"].nunique(), "df": df}


def test_numbers_on_the_page_are_the_predictions_files(predicted: dict, tmp_path: Path) -> None:
    want = expected_numbers(predicted["jsonl"])
    got = build_report(predicted["jsonl"], tmp_path / "r.html")
    for key in ("per_notice", "per_kind", "per_year", "review", "measures", "notices"):
        assert got[key] == want[key], key
    assert want["review"] > 0 and len(want["per_year"]) >= 1
    assert sum(got["confidence_counts"]) + sum(got["confidence_counts_review"]) == want["measures"]
    assert sum(got["confidence_counts_review"]) == want["review"]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f'id="n-measures">{want["measures"]}<' in page
    assert f'id="n-notices">{want["notices"]}<' in page
    assert f'id="n-review">{want["review"]}<' in page
    for notice, counts in want["per_notice"].items():  # each notice's row of the count table, cell by cell
        cells = "".join(f'<td class="n">{counts[lab]}</td>' for lab in LABELS)
        assert f"<tr><th>{notice}</th>{cells}<td class=\"n\">{sum(counts.values())}</td></tr>" in page
    # the same file as CSV gives the same numbers
    from_csv = build_report(predicted["csv"], tmp_path / "c.html")
    for key in ("per_notice", "per_kind", "per_year", "review", "measures"):
        assert from_csv[key] == got[key], key


def test_review_queue_lists_flagged_measures_with_their_nearest_examples(predicted: dict, tmp_path: Path) -> None:
    want = expected_numbers(predicted["jsonl"])
    build_report(predicted["jsonl"], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    queue = page[page.index("<h2>Review queue</h2>"):page.index("<h2>Model</h2>")]
    flagged = want["df"][want["df"]["needs_review"]]
    assert queue.count('<td class="n">') >= 2 * len(flagged)  # a row number and a confidence per flagged measure
    for text in flagged["text"]:
        assert html.escape(text) in queue  # Chinese text as HTML text: the browser renders it
    nearest = flagged["explanation"].iloc[0]["nearest"][0]  # an object in the JSONL file
    assert html.escape(nearest["text"][:20]) in queue
    assert "nearest labelled measures" in queue
    assert "<th>why</th>" in queue and queue.count("<td>low confidence</td>") == len(flagged)  # why it is flagged


def test_page_is_self_contained(predicted: dict, tmp_path: Path) -> None:
    build_report(predicted["jsonl"], tmp_path / "r.html", model_card={"uri": "models:/m@champion", "version": "3",
                                                                      "metrics": {"lono_macro_f1": 0.8125}})
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I), "an external resource"
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//|@import", page, re.I)
    assert page.count("<svg") == 4  # per notice, per kind, per year, confidence: all inline
    assert "models:/m@champion" in page and "0.812" in page


def test_spark_style_csv_and_missing_columns(tmp_path: Path) -> None:
    # the spark engine's CSV writes booleans as true/false and a missing value as an empty cell
    csv = tmp_path / "spark.csv"
    csv.write_text(HEADER + "NA,a.txt,1,,,,,加强学习。,political_study,0.91,false,\n"
                   "NA,a.txt,2,,,2024-03-01,,规范报销。,finance,0.41,true,personnel\n", encoding="utf-8")
    frame, scheme = read_predictions(csv)
    assert frame["needs_review"].tolist() == [False, True] and scheme.name == "codebook"  # no prob_ columns: default
    got = build_report(csv, tmp_path / "s.html")
    assert got["per_notice"] == {"NA": {"political_study": 1, "ideology": 0, "finance": 1, "personnel": 0,
                                        "tech_policy": 0}}
    assert got["per_kind"] == {"unknown": got["per_notice"]["NA"]}
    assert got["per_year"] == {"2024": {**dict.fromkeys(LABELS, 0), "finance": 1}} and got["undated"] == 1
    assert got["review"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a predictions file"):
        build_report(bad, tmp_path / "b.html")
    assert not (tmp_path / "b.html").exists()


# --- refusals -----------------------------------------------------------------------------------

REFUSED = {
    "label-outside-the-scheme": (HEADER + "n,a.txt,1,,,,,加强学习。,sports,0.91,false,\n",
                                 "row 1: label 'sports' is not a category of the predictions (political_study, "),
    "confidence-as-a-word": (HEADER + "n,a.txt,1,,,,,加强学习。,finance,0.9,false,\nn,a.txt,2,,,,,规范。,finance,high,"
                             "false,\n", "row 2: confidence 'high' is not a number between 0 and 1"),
    "confidence-above-1": (HEADER + "n,a.txt,1,,,,,加强学习。,finance,1.7,false,\n",
                           "row 1: confidence '1.7' is not a number between 0 and 1"),
    "header-only": (HEADER, "no predictions in the file (a header only)"),
    "not-predictions": ("notice,text\nn,x\n", "not a predictions file (no column label, confidence, needs_review)"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_file_that_is_not_predictions_is_refused(case: str, in_store, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    body, problem = REFUSED[case]
    path = tmp_path / "p.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)
    code, _, err = run(capsys, "report", path, "--out", tmp_path / "r.html")
    assert code == 2 and not (tmp_path / "r.html").exists()
    assert_one_line(err, str(path), problem)


def test_a_label_of_another_scheme_is_refused(predicted: dict, tmp_path: Path) -> None:
    """The scheme comes from the file's prob_ columns: a coarse3 label in a codebook file is outside it."""
    rows = read_jsonl(predicted["jsonl"])
    rows[3]["label"] = "line_work"
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"row 4: label 'line_work' is not a category of the predictions"):
        read_predictions(path)


def test_parquet_with_a_timestamp_date_column(predicted: dict, tmp_path: Path) -> None:
    """Parquet written by another tool keeps dates as timestamps: the years are counted all the same."""
    frame = pd.DataFrame(read_jsonl(predicted["csv"].with_suffix(".jsonl"))).drop(columns="explanation")
    frame["date"] = pd.to_datetime(frame["date"])
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    frame.to_parquet(tmp_path / "p.parquet")
    got, scheme = read_predictions(tmp_path / "p.parquet")
    assert scheme.labels == LABELS
    want = expected_numbers(predicted["jsonl"])
    assert report_numbers(got, scheme.labels)["per_year"] == want["per_year"]
    assert build_report(tmp_path / "p.parquet", tmp_path / "r.html")["measures"] == want["measures"]


def test_report_command_with_and_without_a_store(predicted: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", predicted["uri"])
    assert main(["report", str(predicted["jsonl"]), "--out", str(tmp_path / "card.html")]) == 0
    page = (tmp_path / "card.html").read_text(encoding="utf-8")
    assert f"models:/{REGISTERED}@champion" in page and "lono_macro_f1" in page and "tfidf" in page
    assert "<th>version</th><td>1</td>" in page and "<th>label_scheme</th><td>codebook</td>" in page
    assert "the registry&#x27;s current model" in page  # said: the file does not name the model that made it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    assert main(["report", str(predicted["jsonl"]), "--out", str(tmp_path / "plain.html")]) == 0
    out, err = capsys.readouterr()
    assert "No model card" in (tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "no model card" in err and not (tmp_path / "none.db").exists()
    assert main(["report", str(predicted["jsonl"]), "--out", str(tmp_path / "r.txt")]) == 2
    capsys.readouterr()
    # a model asked for by name must be found: an error, not a page without its card
    code, _, err = run(capsys, "report", predicted["jsonl"], "--out", tmp_path / "x.html", "--model", tmp_path)
    assert code == 2 and not (tmp_path / "x.html").exists()
    assert_one_line(err, "no classify model there")


def test_chinese_in_charts_is_drawn_with_a_cjk_font(predicted: dict, tmp_path: Path) -> None:
    import warnings

    from classify.reporting import cjk_font_families

    if not cjk_font_families():
        pytest.skip("no CJK font for matplotlib here (apt-get install fonts-noto-cjk): charts show boxes")
    rows = pd.read_json(predicted["jsonl"], lines=True, dtype=False)
    rows["notice"] = "某区教育局巡察整改情况通报"
    zh = tmp_path / "zh.jsonl"
    rows.to_json(zh, orient="records", lines=True, force_ascii=False)
    with warnings.catch_warnings():
        # matplotlib warns "Glyph ... missing from font(s)" for every box it draws
        warnings.filterwarnings("error", message=".*missing from font", category=UserWarning)
        build_report(zh, tmp_path / "zh.html")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium to run it)")
def test_page_renders_in_headless_chromium(predicted: dict, tmp_path: Path) -> None:
    from matplotlib.image import imread

    page, png = tmp_path / "r.html", tmp_path / "r.png"
    build_report(predicted["jsonl"], page)
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1200,1600",
                    page.as_uri()], capture_output=True, timeout=120, check=False)
    assert png.is_file(), "chromium wrote no screenshot"
    pixels = imread(png)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
