"""envspec: a declarative environment-spec compiler for GPU/PyTorch work."""

__version__ = "0.1.0"
