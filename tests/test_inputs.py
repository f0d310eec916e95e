"""The one boundary from records to model inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from classify.errors import InputError
from classify.inputs import HEADING, ISSUER, KIND, MEASURE, context_texts, model_input


def test_published_text_becomes_simplified_and_optional_fields_are_filled() -> None:
    X = model_input([{"text": "規範報銷", "heading_path": ["一、財務", "(一)報銷"], "issuer": "縣教育局"},
                     {"text": "规范采购"}])
    assert X[MEASURE].tolist() == ["规范报销", "规范采购"]
    assert X[HEADING].tolist() == ["一、财务 > (一)报销", ""]
    assert X[ISSUER].tolist() == ["县教育局", ""]
    assert X[KIND].tolist() == ["education", "other"]


def test_given_simplified_text_and_kind_are_used_as_they_are() -> None:
    X = model_input(pd.DataFrame({"text": ["黨組"], "text_simplified": ["党组"], "issuer_kind": ["hospital"]}))
    assert X[MEASURE].tolist() == ["党组"] and X[KIND].tolist() == ["hospital"]
    assert model_input(X) is X  # already a model input: unchanged


@pytest.mark.parametrize("bad, word", [(None, "null"), ("", "empty"), ("  ", "empty"), (123, "int")])
def test_bad_text_is_refused_naming_the_row(bad: object, word: str) -> None:
    with pytest.raises(InputError, match=rf"row 1: 'text' .*{word}"):
        model_input([{"text": "规范采购"}, {"text": bad}])
    with pytest.raises(InputError, match="needs a 'text' column"):
        model_input([{"body": "x"}])


def test_context_follows_input_text() -> None:
    X = model_input([{"text": "规范采购", "heading": "二、财务", "issuer": "某局"}])
    assert context_texts(X, "measure") is None
    assert context_texts(X, "heading+measure") == ["二、财务"]
    assert context_texts(X, "issuer+heading+measure") == ["某局 > 二、财务"]
