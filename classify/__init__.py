"""classify: cut Chinese inspection-rectification notices into measures and label them."""

__version__ = "0.1.0"
