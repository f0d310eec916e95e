"""Models with one contract: ``fit(X, y)``, ``predict``, ``predict_proba``, ``classes_``, ``save``/``load``.

``X`` is a DataFrame with ``text`` (simplified measure) and ``heading`` (heading path). The
TF-IDF baseline lives here; the fine-tuned BERT is in :mod:`classify.bert` (imported lazily,
so the baseline never pays for torch).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from classify.config import BertModelConfig, TfidfModelConfig, TrainConfig
from classify.labels import LABELS

META_FILE = "classify_model.json"


class MeasureClassifier(Protocol):
    classes_: np.ndarray

    def fit(self, X: pd.DataFrame, y: Sequence[str]) -> MeasureClassifier: ...
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...
    def predict(self, X: pd.DataFrame) -> np.ndarray: ...
    def save(self, directory: str | Path) -> None: ...


_jieba = None


def jieba_tokenize(text: str) -> list[str]:
    """jieba words without white space; module level so fitted vectorisers pickle."""
    global _jieba
    if _jieba is None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return [w for w in _jieba.lcut(text) if w.strip()]


def _text_vectoriser(tokenizer: str, word_ngrams: tuple[int, int], char_ngrams: tuple[int, int],
                     min_df: int, max_df: float, sublinear_tf: bool, max_features: int | None):
    common = {"min_df": min_df, "max_df": max_df, "sublinear_tf": sublinear_tf, "max_features": max_features}
    # token_pattern=None: sklearn's default pattern drops one-character tokens, and many
    # Chinese words (党, 税, 车) are one character.
    words = TfidfVectorizer(tokenizer=jieba_tokenize, token_pattern=None, lowercase=False,
                            ngram_range=tuple(word_ngrams), **common)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(char_ngrams), lowercase=False, **common)
    if tokenizer == "jieba":
        return words
    if tokenizer == "char":
        return chars
    return FeatureUnion([("words", words), ("chars", chars)])


class TfidfLinearClassifier:
    """jieba/char TF-IDF features and a linear classifier (logistic regression or calibrated SVM)."""

    family = "tfidf"

    def __init__(self, tokenizer: str = "both", word_ngram_range: tuple[int, int] = (1, 2),
                 char_ngram_range: tuple[int, int] = (1, 3), min_df: int = 1, max_df: float = 1.0,
                 sublinear_tf: bool = True, max_features: int | None = None, heading_weight: float = 0.5,
                 classifier: str = "logreg", C: float = 10.0, class_weight: str | None = "balanced",
                 max_iter: int = 2000, use_heading: bool = False, seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self.word_ngram_range = tuple(word_ngram_range)
        self.char_ngram_range = tuple(char_ngram_range)
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.max_features = max_features
        self.heading_weight = heading_weight
        self.classifier = classifier
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.use_heading = use_heading
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (read from the signature, so the list cannot drift)."""
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def _build(self) -> Pipeline:
        def vec():
            return _text_vectoriser(self.tokenizer, self.word_ngram_range, self.char_ngram_range,
                                    self.min_df, self.max_df, self.sublinear_tf, self.max_features)

        columns = [("text", vec(), "text")]
        weights = {"text": 1.0}
        if self.use_heading:
            columns.append(("heading", vec(), "heading"))
            weights["heading"] = self.heading_weight
        features = ColumnTransformer(columns, transformer_weights=weights)
        if self.classifier == "logreg":
            clf = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                     random_state=self.seed)
        elif self.classifier == "linear_svm":
            svm = LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.seed)
            # LinearSVC has no probabilities; sigmoid calibration on internal folds gives them.
            clf = CalibratedClassifierCV(svm, cv=3, method="sigmoid")
        else:
            raise ValueError(f"unknown classifier {self.classifier!r}")
        return Pipeline([("features", features), ("clf", clf)])

    @staticmethod
    def _frame(X: pd.DataFrame) -> pd.DataFrame:
        X = pd.DataFrame(X).copy()
        if "heading" not in X:
            X["heading"] = ""
        X["heading"] = X["heading"].fillna("").astype(str)
        X["text"] = X["text"].fillna("").astype(str)
        return X

    def fit(self, X: pd.DataFrame, y: Sequence[str]) -> TfidfLinearClassifier:
        self.pipeline_ = self._build()
        self.pipeline_.fit(self._frame(X), np.asarray(y))
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._frame(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / "model.joblib")
        meta = {"family": self.family, "classes": list(self.classes_), "params": self.get_params()}
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> TfidfLinearClassifier:
        return joblib.load(Path(directory) / "model.joblib")


def build_model(config: TrainConfig, *, progress: bool = True) -> MeasureClassifier:
    """A fresh, unfitted model for a training config."""
    m = config.model
    if isinstance(m, TfidfModelConfig):
        return TfidfLinearClassifier(
            tokenizer=m.tokenizer, word_ngram_range=m.word_ngram_range, char_ngram_range=m.char_ngram_range,
            min_df=m.min_df, max_df=m.max_df, sublinear_tf=m.sublinear_tf, max_features=m.max_features,
            heading_weight=m.heading_weight, classifier=m.classifier, C=m.C, class_weight=m.class_weight,
            max_iter=m.max_iter, use_heading=config.input.use_heading, seed=config.seed,
        )
    if isinstance(m, BertModelConfig):
        from classify.bert import BertMeasureClassifier

        return BertMeasureClassifier(
            model=m.pretrained, max_length=m.max_length, batch_size=m.batch_size, epochs=m.epochs,
            learning_rate=m.learning_rate, warmup_ratio=m.warmup_ratio, weight_decay=m.weight_decay,
            class_weight=m.class_weight, use_heading=config.input.use_heading, seed=config.seed,
            device=m.device, progress=progress,
        )
    raise TypeError(f"unsupported model config {type(m).__name__}")


def load_model_dir(directory: str | Path) -> MeasureClassifier:
    """Load a saved model of either family from its folder."""
    directory = Path(directory)
    if (directory / "classify_bert.json").is_file():
        from classify.bert import BertMeasureClassifier

        return BertMeasureClassifier.load(directory)
    if (directory / META_FILE).is_file():
        return TfidfLinearClassifier.load(directory)
    raise FileNotFoundError(f"{directory}: not a saved classify model (no {META_FILE} or classify_bert.json)")


def proba_frame(model: MeasureClassifier, X: pd.DataFrame) -> pd.DataFrame:
    """label, confidence and one ``prob_<label>`` column per category (all five, fixed order)."""
    proba = align_proba(model.predict_proba(X), model.classes_)
    out = pd.DataFrame({f"prob_{lab}": proba[:, i] for i, lab in enumerate(LABELS)})
    best = proba.argmax(axis=1)
    out.insert(0, "confidence", proba[np.arange(len(best)), best])
    out.insert(0, "label", np.asarray(LABELS)[best])
    return out


def align_proba(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Columns in LABELS order; a class the model never saw gets probability 0."""
    out = np.zeros((proba.shape[0], len(LABELS)), dtype=float)
    for j, cls in enumerate(classes):
        out[:, LABELS.index(cls)] = proba[:, j]
    return out
