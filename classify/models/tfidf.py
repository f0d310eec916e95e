"""TF-IDF family: words (rjieba, or jieba: the same dictionary) and character n-grams, and a linear classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field

from classify.inputs import MEASURE, InputText, context_texts
from classify.models.base import MeasureClassifier


def _ordered(v: tuple[int, int]) -> tuple[int, int]:
    if not 1 <= v[0] <= v[1]:
        raise ValueError("must be [low, high] with 1 <= low <= high")
    return v


NgramRange = Annotated[tuple[int, int], AfterValidator(_ordered)]

_jieba = None


def jieba_tokenize(text: str) -> list[str]:
    """jieba words without white space; module level so that fitted vectorisers pickle."""
    global _jieba
    if _jieba is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return [w for w in _jieba.lcut(text) if w.strip()]


def rjieba_tokenize(text: str) -> list[str]:
    """The same dictionary and algorithm as jieba, in Rust (jieba-rs), about 15 times faster."""
    import rjieba

    return [w for w in rjieba.cut(text) if not w.isspace()]  # jieba-rs never yields an empty token


def rjieba_cut(text: str) -> list[str]:
    """rjieba's tokens as they come, white space included (the n-gram vectoriser drops blank tokens itself)."""
    import rjieba

    return rjieba.cut(text)


WORD_TOKENIZERS = {"jieba": jieba_tokenize, "rjieba": rjieba_cut}


class TfidfMeasureClassifier(MeasureClassifier):
    """TF-IDF features (words and/or character n-grams) and logistic regression or a calibrated linear SVM.

    With a context in ``input_text`` (issuer and/or heading path) the context gets its own
    vectoriser, weighted by ``context_weight`` against the measure's.
    """

    family = "tfidf"
    pip_requirements = ("rjieba", "jieba")
    # sparse n-gram similarity never flagged a measure the text tests pass, at the cost of a second
    # featurisation (experiments/results/review_guarantee.md): the text tests only
    domain_similarity = False

    def __init__(
        self,
        features: Literal["words", "chars", "both"] = "both",
        word_tokenizer: Literal["jieba", "rjieba"] = "rjieba",
        word_ngram_range: NgramRange = (1, 2),
        char_ngram_range: NgramRange = (1, 3),
        min_df: Annotated[int, Field(ge=1)] = 1,
        max_df: Annotated[float, Field(gt=0, le=1)] = 1.0,
        sublinear_tf: bool = True,
        max_features: Annotated[int, Field(ge=1)] | None = None,
        context_weight: Annotated[float, Field(ge=0)] = 0.5,
        classifier: Literal["logreg", "linear_svm"] = "logreg",
        C: Annotated[float, Field(gt=0)] = 10.0,
        class_weight: Literal["balanced"] | None = "balanced",
        max_iter: Annotated[int, Field(ge=1)] = 2000,
        # logistic regression's solver: on ~100k sparse TF-IDF columns saga converges in well under a second
        # where lbfgs takes ~10 s per fit (same macro-F1; experiments/results/tfidf_solvers.md)
        solver: Literal["saga", "lbfgs", "newton-cg"] = "saga",
        tol: Annotated[float, Field(gt=0)] = 1e-3,
        input_text: InputText = "measure",
        seed: int = 0,
        progress: bool = False,
        label_scheme: str = "codebook",
    ) -> None:
        self.features = features
        self.word_tokenizer = word_tokenizer
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.max_features = max_features
        self.context_weight = context_weight
        self.classifier = classifier
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.solver = solver
        self.tol = tol
        self.input_text = input_text
        self.seed = seed
        self.progress = progress
        self.label_scheme = label_scheme

    def _vectoriser(self):
        from sklearn.pipeline import FeatureUnion

        from classify.models.ngrams import NgramTfidfVectorizer

        # scikit-learn's TF-IDF numbers, counted with numpy (classify/models/ngrams.py): its Python
        # loop over n-grams bounded prediction at ~2,200 measures/s. Every token counts, including
        # one-character words (党, 税, 车) that scikit-learn's default token pattern would drop.
        common = {"min_df": self.min_df, "max_df": self.max_df, "sublinear_tf": self.sublinear_tf,
                  "max_features": self.max_features}
        words = NgramTfidfVectorizer("word", tuple(self.word_ngram_range),
                                     tokenizer=WORD_TOKENIZERS[self.word_tokenizer], **common)
        chars = NgramTfidfVectorizer("char", tuple(self.char_ngram_range), **common)
        if self.features == "words":
            return words
        if self.features == "chars":
            return chars
        return FeatureUnion([("words", words), ("chars", chars)])

    def _build(self):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.svm import LinearSVC

        columns = [("text", self._vectoriser(), "text")]
        weights = {"text": 1.0}
        if "+" in self.input_text:
            columns.append(("context", self._vectoriser(), "context"))
            weights["context"] = self.context_weight
        features = ColumnTransformer(columns, transformer_weights=weights)
        if self.classifier == "logreg":
            clf = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                     solver=self.solver, tol=self.tol, random_state=self.seed)
        else:
            svm = LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.seed)
            # LinearSVC has no probabilities; sigmoid calibration on internal folds gives them.
            clf = CalibratedClassifierCV(svm, cv=3, method="sigmoid")
        return Pipeline([("features", features), ("clf", clf)])

    def _frame(self, X: Any):
        import pandas as pd

        X = self._inputs(X)
        frame = pd.DataFrame({"text": X[MEASURE].tolist()})
        context = context_texts(X, self.input_text)
        if context is not None:
            frame["context"] = context
        return frame

    def fit(self, X: Any, y: Any) -> TfidfMeasureClassifier:
        self.pipeline_ = self._build()
        self.pipeline_.fit(self._frame(X), np.asarray(y))
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return self.pipeline_.predict_proba(self._frame(X))

    def _features(self, X: Any):
        return self.pipeline_.named_steps["features"].transform(self._frame(X))

    def _coefficients(self) -> np.ndarray:
        """(n_classes, n_features) weights of the linear model (averaged over the SVM's calibration folds)."""
        clf = self.pipeline_.named_steps["clf"]
        if hasattr(clf, "coef_"):
            coef = clf.coef_
        else:
            coef = np.mean([c.estimator.coef_ for c in clf.calibrated_classifiers_], axis=0)
        if coef.shape[0] == 1:  # binary: one row for the second class
            coef = np.vstack([-coef[0], coef[0]])
        return coef

    def embed(self, X: Any):
        """Unit-length TF-IDF rows (sparse: a dense copy would hold one float per vocabulary entry)."""
        from sklearn.preprocessing import normalize

        return normalize(self._features(X))

    def explain_terms(self, X: Any, k: int = 5) -> list[list[tuple[str, float]]]:
        features = self._features(X).tocsr()
        names = self.pipeline_.named_steps["features"].get_feature_names_out()
        coef = self._coefficients()
        pred = np.argmax(self.predict_proba(X), axis=1)
        out = []
        for i in range(features.shape[0]):
            row = features.getrow(i)
            contrib = row.data * coef[pred[i], row.indices]
            top = np.argsort(-contrib)[:k]
            out.append([(_term(names[row.indices[j]]), float(contrib[j])) for j in top if contrib[j] > 0])
        return out

    def _save_state(self, directory: Path) -> None:
        import joblib

        joblib.dump(self.pipeline_, directory / "pipeline.joblib")

    def _load_state(self, directory: Path) -> None:
        import joblib

        self.pipeline_ = joblib.load(directory / "pipeline.joblib")


def _term(feature_name: str) -> str:
    # "text__words__科技 项目" -> "科技 项目"; the column prefix says nothing to a reader
    return feature_name.split("__")[-1]
