"""The numpy n-gram TF-IDF must give scikit-learn's numbers, feature for feature."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import REPO
from sklearn.feature_extraction.text import TfidfVectorizer

from classify.dataset import load_labelled
from classify.models.ngrams import NgramTfidfVectorizer
from classify.models.tfidf import jieba_tokenize, rjieba_cut, rjieba_tokenize


@pytest.fixture(scope="module")
def texts() -> list[str]:
    df = load_labelled(REPO / "data" / "measures.jsonl")
    return df["text_simplified"].tolist()[::3]


def _aligned(reference, ours, texts):
    ref_names, our_names = reference.get_feature_names_out(), ours.get_feature_names_out()
    assert sorted(ref_names) == sorted(our_names)
    a = reference.transform(texts)[:, np.argsort(ref_names)].toarray()
    b = ours.transform(texts)[:, np.argsort(our_names)].toarray()
    return a, b


UNSEEN = ["完全没见过的龘靐字", "tabs\tand  double  spaces\n\nlines", "", "党"]


@pytest.mark.parametrize("limits", [{}, {"min_df": 2, "max_df": 0.4}])
def test_char_ngrams_match_scikit_learn(texts, limits):
    train, test = texts[:250], texts[250:] + UNSEEN
    ref = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=False, **limits).fit(train)
    ours = NgramTfidfVectorizer("char", (1, 3), **limits).fit(train)
    a, b = _aligned(ref, ours, test)
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert np.count_nonzero(b[-2]) == 0  # an empty text is a zero row


@pytest.mark.parametrize(("reference_tokenizer", "tokenizer"),
                         [(rjieba_tokenize, rjieba_cut), (rjieba_tokenize, rjieba_tokenize), (jieba_tokenize, jieba_tokenize)])
def test_word_ngrams_match_scikit_learn(texts, reference_tokenizer, tokenizer):
    """Raw rjieba tokens (white space included) give the numbers of a tokenizer that drops blank tokens."""
    spaced = [t.replace("，", " ， ", 1).replace("。", "\u3000。\t", 1) for t in texts]
    train, test = spaced[:250], spaced[250:] + UNSEEN + ["科技 \x0b 项目  管理"]
    ref = TfidfVectorizer(tokenizer=reference_tokenizer, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True,
                          lowercase=False, min_df=2).fit(train)
    ours = NgramTfidfVectorizer("word", (1, 2), tokenizer=tokenizer, min_df=2).fit(train)
    a, b = _aligned(ref, ours, test)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_max_features_keeps_the_most_frequent(texts):
    full = NgramTfidfVectorizer("char", (1, 2)).fit(texts)
    top = NgramTfidfVectorizer("char", (1, 2), max_features=50).fit(texts)
    assert len(top.get_feature_names_out()) == 50
    assert "的" in set(top.get_feature_names_out())
    assert set(top.get_feature_names_out()) < set(full.get_feature_names_out())


def test_fitted_vectoriser_pickles_and_predicts_the_same(texts):
    v = NgramTfidfVectorizer("word", (1, 2), tokenizer=rjieba_cut).fit(texts)
    before = v.transform(texts[:20]).toarray()
    restored = pickle.loads(pickle.dumps(v))
    np.testing.assert_array_equal(restored.transform(texts[:20]).toarray(), before)


def test_too_long_ngrams_for_the_alphabet_are_refused():
    with pytest.raises(ValueError, match="64 bits"):
        NgramTfidfVectorizer("char", (1, 9)).fit(["".join(chr(0x4E00 + i) for i in range(300))])


def test_limits_that_leave_nothing_are_a_clear_error():
    with pytest.raises(ValueError, match="min_df"):
        NgramTfidfVectorizer("char", (1, 1), min_df=5).fit(["甲乙", "丙丁"])
