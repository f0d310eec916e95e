"""Training configs: typed, validated, defaults in one place, one-line errors naming the key."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from classify.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[1]


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
    for path in (REPO / "configs").glob("*.yaml"):
        cfg = load_config(path)
        assert cfg.name == path.stem


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
    config = parse_config({"data": {"issuer_kinds": ["science_bureau"], "sources": ["real"]}})
    assert config.data.issuer_kinds == ["science_bureau"]
