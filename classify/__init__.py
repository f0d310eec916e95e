"""classify: cut Chinese inspection-rectification notices into measures and label them."""

from classify.labels import LABELS

__all__ = ["LABELS"]
__version__ = "0.1.0"
