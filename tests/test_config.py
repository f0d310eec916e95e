"""Training configs (classify/config.py): typed, validated, defaults in one place, one-line errors naming the key; a
bad config stops ``train`` before any MLflow run exists."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from helpers import REPO, TFIDF_CONFIG, assert_one_line, run, store_runs, subset_rows, write_jsonl

from classify.config import ConfigError, load_config, parse_config


def test_config_unknown_key_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  family: tfidf\n  colour: blue\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'model.colour'"):
        load_config(cfg)


def test_config_wrong_type_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  family: tfidf\n  C: lots\n")
    with pytest.raises(ConfigError, match=r"model\.C: .*'lots'"):
        load_config(cfg)
    with pytest.raises(ConfigError, match=r"seed"):
        parse_config({"seed": "x"})


def test_config_override_is_validated():
    cfg = parse_config({}, overrides=["model.C=2.5", "input.text=heading+measure"])
    assert cfg.model.C == 2.5 and cfg.input.text == "heading+measure"
    with pytest.raises(ConfigError, match="input.text"):
        parse_config({}, overrides=["input.text=everything"])


def test_shipped_configs_validate():
    paths = sorted((REPO / "configs").rglob("*.yaml"))
    assert any(p.parent.name == "gpu" for p in paths)
    for path in paths:
        cfg = load_config(path)
        assert cfg.name == path.stem


def test_gpu_config_without_a_gpu_stops_before_any_run(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from helpers import build_tiny_bert

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    tiny = build_tiny_bert(work / "tiny-bert")
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    code, _, err = run(capsys, "train", "--config", REPO / "configs" / "gpu" / "bert_base_chinese.yaml",
                       "--set", f"model.pretrained={tiny}", "--set", f"data.path={data}", "--quiet")
    assert code == 2
    assert_one_line(err, "model.device is 'cuda' but no CUDA device is available")
    assert store_runs(work / "store") == 0


def test_non_finite_numbers_are_refused():
    for value in (".inf", "1e400", ".nan"):
        with pytest.raises(ConfigError, match="model.C"):
            parse_config({}, overrides=[f"model.C={value}"])


def test_empty_config_says_it_trains_the_defaults(tmp_path):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(cfg)
    assert any("empty" in str(w.message) for w in caught)
    assert config.model.family == "tfidf"


def test_data_filters_are_checked():
    with pytest.raises(ConfigError, match="unknown issuer kind"):
        parse_config({"data": {"issuer_kinds": ["banks"]}})
    config = parse_config({"data": {"issuer_kinds": ["science_bureau"], "sources": ["real", "user"]}})
    assert config.data.issuer_kinds == ["science_bureau"] and config.data.sources == ["real", "user"]
    with pytest.raises(ConfigError, match=r"data.sources.0: Input should be 'real', 'synthetic' or 'user'"):
        parse_config({"data": {"sources": ["web"]}})


def test_defaults_of_the_scheme_and_tracking_keys():
    config = parse_config({})
    assert config.label_scheme == "codebook" and config.scheme().labels[0] == "political_study"
    assert config.tracking.promote_metric == "loiko_real_macro_f1"
    assert config.tracking.fold_runs is False and config.data.include_validation_samples is False
    config = parse_config({"label_scheme": "coarse3", "tracking": {"fold_runs": True, "promote_metric": "lono_macro_f1"},
                           "data": {"include_validation_samples": True}})
    assert config.scheme().name == "coarse3" and config.tracking.fold_runs and config.data.include_validation_samples


def test_our_own_messages_come_without_pydantics_prefix():
    for raw, message in (({"data": {"path": ""}}, "<config>: data.path: is empty; give the labelled data file (JSONL)"),
                         ({"data": {"path": "  "}}, "<config>: data.path: is empty"),
                         ({"label_scheme": "coarse7"}, "<config>: label_scheme: label scheme 'coarse7': no such file or "
                                                       "shipped scheme (shipped: coarse3, codebook)")):
        with pytest.raises(ConfigError) as info:
            parse_config(raw)
        assert str(info.value).startswith(message) and "Value error" not in str(info.value)


def test_a_scheme_file_in_the_config(tmp_path: Path) -> None:
    scheme = tmp_path / "two.yaml"
    scheme.write_text("categories:\n  - id: party\n    from: [political_study, ideology]\n"
                      "  - id: rest\n    from: [finance, personnel, tech_policy]\n", encoding="utf-8")
    assert parse_config({"label_scheme": str(scheme)}).scheme().labels == ("party", "rest")
    scheme.with_name("bad.yaml").write_text("categories:\n  - id: only\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"label_scheme: .*bad.yaml: 'categories' must list at least two"):
        parse_config({"label_scheme": str(scheme.with_name("bad.yaml"))})


# --- bad configs stop train before any run ------------------------------------------------------


def _config_text(body: str, data: Path) -> str:
    return f"data:\n  path: {data}\n{body}"


CONFIG_CASES = {
    "unknown-top-key": ("modle:\n  family: tfidf\n", "unknown key 'modle'"),
    "unknown-nested-key": ("model:\n  family: tfidf\n  learning_rat: 0.1\n", "unknown key 'model.learning_rat'"),
    "unknown-family": ("model:\n  family: svm\n", "model.family: unknown model family 'svm'"),
    "wrong-type-int": ("seed: abc\n", "seed: Input should be a valid integer"),
    "wrong-type-float": ("model:\n  family: tfidf\n  C: high\n", "model.C: Input should be a valid number"),
    "wrong-range": ("model:\n  family: tfidf\n  C: -1\n", "model.C: Input should be greater than 0"),
    "wrong-type-bert": ("model:\n  family: bert\n  epochs: many\n", "model.epochs: Input should be a valid integer"),
    "bad-ngrams": ("model:\n  family: tfidf\n  char_ngram_range: [3, 1]\n", "model.char_ngram_range"),
    "model-path-missing": ("model:\n  family: bert\n  pretrained: ./no/such/model\n",
                           "model path './no/such/model' does not exist"),
    "unknown-label-scheme": ("label_scheme: coarse7\n", "label_scheme: label scheme 'coarse7'"),
    "not-a-mapping": (None, "a config must be a mapping"),
    "not-yaml": (None, "not valid YAML"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config(case: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, problem = CONFIG_CASES[case]
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    path = work / f"{case}.yaml"
    if case == "not-a-mapping":
        path.write_text("- family: tfidf\n- seed: 1\n", encoding="utf-8")
    elif case == "not-yaml":
        path.write_text("model: {family: tfidf\n", encoding="utf-8")
    else:
        path.write_text(_config_text(body, data), encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", path, "--quiet")
    assert code == 2
    assert_one_line(err, str(path), problem)
    assert store_runs(work / "store") == 0


def test_bad_override(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", "model.max_iter=lots", "--quiet")
    assert code == 2
    assert_one_line(err, str(TFIDF_CONFIG), "model.max_iter: Input should be a valid integer")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", "data.path=", "--quiet")
    assert code == 2
    assert_one_line(err, str(TFIDF_CONFIG), "data.path: is empty")


def test_missing_config_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "train", "--config", work / "nope.yaml", "--quiet")
    assert code == 2
    assert_one_line(err, str(work / "nope.yaml"), "config file not found")
