"""The torch- and MLflow-free layer: reading notice files, cutting them into measures, issuer kinds, the file loop.

Spark executors import only this package (and the model's own code), so nothing here may import
torch, transformers, MLflow or scikit-learn.
"""
