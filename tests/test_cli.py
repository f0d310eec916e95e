"""The command line: start-up stays light, device choice, one error base."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

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
    from classify.models.transformer_utils import training_dtype

    assert training_dtype("cuda", "auto") == "bfloat16"
    assert training_dtype("cpu", "auto", native_cpu_bf16=True) == "bfloat16"
    assert training_dtype("cpu", "auto", native_cpu_bf16=False) is None  # emulated bf16 is slower than fp32
    assert training_dtype("cpu", "bf16", native_cpu_bf16=False) == "bfloat16"  # asked for: given
    assert training_dtype("cuda", "fp32") is None and training_dtype("cpu", "fp32", native_cpu_bf16=True) is None


def test_every_error_raised_on_purpose_is_a_classify_error() -> None:
    from classify import errors, pretrained

    for cls in (errors.ConfigError, errors.DataError, errors.InputError, errors.OutputError, errors.TrackingError,
                errors.ModelFormatError, errors.NoticeError, pretrained.ModelNotFoundError, pretrained.ChecksumError,
                pretrained.UnknownModelError, pretrained.ForeignFolderError):
        assert issubclass(cls, errors.ClassifyError), cls


def test_models_pull_of_an_unknown_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from classify.cli import main

    assert main(["models", "pull", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown pretrained model 'nosuch'" in err[0]
