"""A trained model as it is shipped: the estimator plus what the training run learnt about it.

That is the temperature that calibrates its probabilities, the review policy (the confidence under
which a label is flagged, chosen so that its promise holds on new notices) and the out-of-domain
check, the runner-up probability above which a secondary label is given, and the labelled training
measures that explanations point to. One folder holds it all; the MLflow pyfunc model wraps this folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from classify.calibration import apply_temperature
from classify.inputs import MEASURE, MODEL_INPUT_COLUMNS, model_input
from classify.labels import LabelScheme, default_scheme, scheme_from_dict
from classify.models.base import MeasureClassifier
from classify.review import DomainCheck, ReviewPolicy, review_flags
from classify.schema import PredictionSchema

BUNDLE_FILE = "trained_model.json"
CALIBRATOR_FILE = "calibrator.joblib"
# the training run's numbers a model carries in its card (the report and `classify predict` show them)
CARD_METRICS = ("lono_macro_f1", "lono_accuracy", "loiko_macro_f1", "loiko_accuracy", "loiko_real_macro_f1",
                "ece", "brier", "review_threshold", "review_flagged_fraction", "n_measures", "n_notices")


class TrainedModel:
    """Estimator + calibration + review policy and domain check + secondary-label threshold + exemplars."""

    def __init__(self, estimator: MeasureClassifier, *, scheme: LabelScheme | None = None, temperature: float = 1.0,
                 calibrator: Any = None, review: ReviewPolicy | None = None, domain_check: DomainCheck | None = None,
                 secondary_threshold: float = 1.01, exemplars: pd.DataFrame | None = None,
                 card: dict[str, Any] | None = None, oof_rates: dict[str, Any] | None = None) -> None:
        self.estimator = estimator
        self.scheme = scheme or default_scheme()
        self.schema = PredictionSchema.of(self.scheme)
        self.temperature = float(temperature)
        # a fitted scikit-learn calibrator (classify.calibration.ProbabilityCalibrator) replaces the temperature
        self.calibrator = calibrator
        self.review = review or ReviewPolicy.fixed(0.0)  # none given: nothing is low-confidence
        self.domain_check = domain_check  # None: no out-of-domain flags
        self.secondary_threshold = float(secondary_threshold)
        # labelled training measures: id, label, text (published), heading, + the model-input columns
        self.exemplars = exemplars
        self.card = dict(card or {})
        # how the calibrated model errs, from its out-of-fold predictions: per true label, the mean probability
        # vector ("rates", rows in label order) and the label shares ("prior"); no-label share estimates use them
        self.oof_rates = oof_rates
        self._exemplar_vectors: Any = None

    # -- prediction ------------------------------------------------------------------------------

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, columns in the label scheme's order."""
        from classify.evaluation import align_proba

        X = model_input(X, source="input")
        raw = align_proba(self.estimator.predict_proba(X), self.estimator.classes_, self.scheme.labels)
        if self.calibrator is not None:
            return self.calibrator.transform(raw)
        return apply_temperature(raw, self.temperature)

    def predict_frame(self, X: Any, *, review_below: float | None = None) -> pd.DataFrame:
        """The schema's output columns per row: label, confidence, prob_<label> (every label of the scheme),
        needs_review, review_reason (out_of_domain, low_confidence), secondary_label."""
        X = model_input(X, source="input")
        with self.estimator.predict_context():  # the encoder embeds each text once for both
            proba = self.predict_proba(X)
            ood = self.out_of_domain(X)
        return self.frame_from_proba(proba, review_below=review_below, out_of_domain=ood)

    def out_of_domain(self, X: Any) -> np.ndarray | None:
        """True per row where the measure is unlike the training measures (no Chinese text, far from every
        labelled measure, unfamiliar wording); None without a domain check."""
        if self.domain_check is None:
            return None
        X = model_input(X, source="input")
        uses_vectors = getattr(self.domain_check, "similarity_threshold_", None) is not None
        vectors = self.estimator.embed(X) if uses_vectors and len(X) else None
        return self.domain_check.flags(X[MEASURE].tolist(), vectors, self._vectors() if uses_vectors else None)

    def frame_from_proba(self, proba: np.ndarray, *, review_below: float | None = None,
                         out_of_domain: np.ndarray | None = None) -> pd.DataFrame:
        labels = np.asarray(self.scheme.labels, dtype=object)
        order = np.argsort(-proba, axis=1)
        best, runner = order[:, 0], order[:, 1]
        idx = np.arange(len(proba))
        out = pd.DataFrame({"label": labels[best], "confidence": proba[idx, best]})
        for i, col in enumerate(self.schema.prob_columns):
            out[col] = proba[:, i]
        out["needs_review"], out["review_reason"] = review_flags(out["confidence"].to_numpy(), out["label"].to_numpy(),
                                                                 self.review, out_of_domain, review_below=review_below)
        runner_p = proba[idx, runner]
        out["secondary_label"] = np.where(runner_p >= self.secondary_threshold, labels[runner], None)
        return out[self.schema.output_names]

    # -- explanations ----------------------------------------------------------------------------

    def _vectors(self) -> Any:
        if self._exemplar_vectors is None and self.exemplars is not None:
            self._exemplar_vectors = self.estimator.embed(self.exemplars[list(MODEL_INPUT_COLUMNS)])
        return self._exemplar_vectors

    def nearest(self, X: Any, k: int = 3) -> list[list[dict]]:
        """The ``k`` most similar labelled training measures per row (cosine similarity), or [] per row."""
        X = model_input(X, source="input")
        if self.exemplars is None or len(X) == 0:
            return [[] for _ in range(len(X))]
        queries = self.estimator.embed(X)
        if queries is None:
            return [[] for _ in range(len(X))]
        sims = queries @ self._vectors().T
        sims = sims.toarray() if hasattr(sims, "toarray") else np.asarray(sims)
        out = []
        for row in sims:
            top = np.argsort(-row)[:k]
            out.append([{"id": self.exemplars["id"].iloc[j], "label": self.exemplars["label"].iloc[j],
                         "similarity": round(float(row[j]), 3), "text": self.exemplars["text"].iloc[j]}
                        for j in top])
        return out

    def explain(self, X: Any, k: int = 3, terms: int = 5) -> list[dict]:
        X = model_input(X, source="input")
        neighbours = self.nearest(X, k)
        top_terms = self.estimator.explain_terms(X, terms) or [[] for _ in range(len(X))]
        return [{"nearest": n, "terms": [{"term": t, "weight": round(w, 4)} for t, w in tt]}
                for n, tt in zip(neighbours, top_terms, strict=True)]

    # -- saving ----------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.estimator.save(directory / "estimator")
        if self.exemplars is not None:
            self.exemplars.to_json(directory / "exemplars.jsonl", orient="records", lines=True, force_ascii=False)
            vectors = self._vectors()
            if isinstance(vectors, np.ndarray):  # dense embeddings are kept; sparse TF-IDF rows are recomputed
                np.save(directory / "exemplar_vectors.npy", vectors.astype(np.float32))
        if self.calibrator is not None:
            import joblib

            joblib.dump(self.calibrator, directory / CALIBRATOR_FILE)
        bundle = {"temperature": self.temperature, "calibrator": CALIBRATOR_FILE if self.calibrator is not None else None,
                  "review_policy": self.review.to_dict(),
                  "domain_check": self.domain_check.to_dict() if self.domain_check is not None else None,
                  "secondary_threshold": self.secondary_threshold, "card": self.card,
                  "label_scheme": self.scheme.to_dict(), "oof_rates": self.oof_rates}
        (directory / BUNDLE_FILE).write_text(json.dumps(bundle, ensure_ascii=False, indent=2) + "\n",
                                             encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> TrainedModel:
        from classify.errors import ModelFormatError
        from classify.models import load_estimator

        directory = Path(directory)
        path = directory / BUNDLE_FILE
        if not path.is_file():
            raise ModelFormatError(f"{directory}: saved by an older classify (no {BUNDLE_FILE}); "
                                   "retrain it with classify train")
        bundle = json.loads(path.read_text(encoding="utf-8"))
        exemplars = None
        if (directory / "exemplars.jsonl").is_file():
            exemplars = pd.read_json(directory / "exemplars.jsonl", orient="records", lines=True, dtype=False)
        calibrator = None
        if bundle.get("calibrator"):
            import joblib

            calibrator = joblib.load(directory / bundle["calibrator"])
        # a model saved before label schemes existed predicts the codebook's five categories
        scheme = (scheme_from_dict(bundle["label_scheme"], str(path)) if bundle.get("label_scheme")
                  else default_scheme())
        # models saved before review policies carry one threshold and no domain check
        review = (ReviewPolicy.from_dict(bundle["review_policy"]) if bundle.get("review_policy")
                  else ReviewPolicy.fixed(bundle.get("review_threshold", 0.0)))
        check = None
        if bundle.get("domain_check"):
            texts = exemplars[MEASURE].tolist() if exemplars is not None and MEASURE in exemplars else None
            check = DomainCheck.from_dict(bundle["domain_check"], exemplar_texts=texts)
        model = cls(load_estimator(directory / "estimator"), scheme=scheme, temperature=bundle["temperature"],
                    calibrator=calibrator, review=review, domain_check=check,
                    secondary_threshold=bundle["secondary_threshold"],
                    exemplars=exemplars, card=bundle.get("card"), oof_rates=bundle.get("oof_rates"))
        if (directory / "exemplar_vectors.npy").is_file():
            model._exemplar_vectors = np.load(directory / "exemplar_vectors.npy")
        return model


def exemplar_frame(df: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
    """Training measures as kept for explanations: id, label, published text, heading, and model inputs."""
    out = pd.DataFrame({"id": df["id"].to_numpy(), "label": df["label"].to_numpy(), "text": df["text"].to_numpy(),
                        "heading": df["heading"].to_numpy()})
    for col in MODEL_INPUT_COLUMNS:
        out[col] = X[col].to_numpy()
    return out


__all__ = ["CARD_METRICS", "TrainedModel", "exemplar_frame"]
