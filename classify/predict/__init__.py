"""Prediction engines: the local one (:mod:`classify.predict.local`) and Spark (:mod:`classify.predict.spark`),
returning one result type; :mod:`classify.predict.runlog` records a batch as an MLflow run."""
