"""The command line (classify/cli.py): start-up stays light, one error base printed as one line (a traceback only
with --debug), exit statuses, tables by display width, ``explain``; device choice for the transformer families."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import GOOD_SEEDS, REPO, assert_one_line, big_notice, run

from classify.cli import fmt_table, main

HEAVY = ("torch", "mlflow", "transformers", "sklearn")


@pytest.mark.parametrize("argv", [["--help"], ["segment", str(REPO / "seeds" / "001_069fa13e86ff3dc9.txt")]])
def test_help_and_segment_import_neither_torch_nor_mlflow(argv: list[str]) -> None:
    code = ("import sys\nfrom classify.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_device_auto_takes_cuda_with_bf16_when_there_is_a_gpu() -> None:
    from classify.errors import ConfigError
    from classify.models.transformer_utils import select_device

    assert select_device("auto", cuda_available=True) == ("cuda", "bfloat16")
    assert select_device("auto", cuda_available=False) == ("cpu", None)
    assert select_device("cpu", cuda_available=True) == ("cpu", None)
    with pytest.raises(ConfigError, match="no CUDA device"):
        select_device("cuda", cuda_available=False)


def test_training_precision_auto_takes_bf16_only_where_it_is_native() -> None:
    from classify.models.transformer_utils import autocast_dtype

    assert autocast_dtype("cuda", "auto") == "bfloat16"
    assert autocast_dtype("cpu", "auto", native_cpu_bf16=True) == "bfloat16"
    assert autocast_dtype("cpu", "auto", native_cpu_bf16=False) is None  # emulated bf16 is slower than fp32
    assert autocast_dtype("cpu", "bf16", native_cpu_bf16=False) == "bfloat16"  # asked for: given
    assert autocast_dtype("cuda", "fp32") is None and autocast_dtype("cpu", "fp32", native_cpu_bf16=True) is None


def test_every_error_raised_on_purpose_is_a_classify_error() -> None:
    from classify import errors, pretrained

    for cls in (errors.ConfigError, errors.DataError, errors.InputError, errors.OutputError, errors.TrackingError,
                errors.ModelFormatError, errors.NoticeError, pretrained.ModelNotFoundError, pretrained.ChecksumError,
                pretrained.UnknownModelError, pretrained.ForeignFolderError):
        assert issubclass(cls, errors.ClassifyError), cls


def test_models_pull_of_an_unknown_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown pretrained model 'nosuch'" in err[0]


def test_big_notice_through_the_entry_point(tmp_path: Path) -> None:
    """A bad notice as a real process meets it: exit status 1, nothing but the one line on stderr."""
    path = big_notice(tmp_path)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "classify.cli", "segment", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert_one_line(proc.stderr, str(path), "too large")
    assert time.perf_counter() - t0 < 60


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import classify.notices.files

    def boom(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(classify.notices.files, "segment_file", boom)
    code, _, err = run(capsys, "segment", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, "unexpected ZeroDivisionError", "--debug")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "segment", str(GOOD_SEEDS[0])])


def test_tables_align_by_display_width() -> None:
    table = pd.DataFrame({"measures": [3, 12]}, index=["中文通知 甲", "ab"])
    table.index.name = "notice"
    lines = fmt_table(table).splitlines()
    from classify.cli import _width

    assert len({_width(line) for line in lines}) == 1  # every row as wide as the header


# --- explain ------------------------------------------------------------------------------------


def test_explain_prints_neighbours(in_store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "修订财务报销管理办法,5万元以上支出须集体研究。", "-k", "2")
    assert code == 0, err
    assert "->" in out and "terms:" in out and any(lab in out for lab in ("political_study", "finance"))
    neighbours = [line for line in out.splitlines() if line.startswith("     0.") or line.startswith("     1.")]
    assert len(neighbours) == 2  # -k nearest labelled measures


@pytest.mark.parametrize("argv, problem", [
    (["explain", ""], "measure 1 is empty; give the text of a measure"),
    (["explain", "规范报销", "   "], "measure 2 is empty"),
    (["explain", "规范报销", "-k", "-1"], "-k must be between 1 and 50 (nearest labelled measures to show), got -1"),
    (["explain", "规范报销", "-k", "51"], "-k must be between 1 and 50"),
    (["explain"], "give measure texts, or --measures FILE.jsonl"),
])
def test_explain_input_errors_are_one_line(argv: list[str], problem: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no store here: the input is checked before any model is looked for
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert_one_line(err, problem)
    assert not (tmp_path / "experiments").exists()
