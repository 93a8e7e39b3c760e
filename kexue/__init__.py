"""kexue: the models and techniques of the Scientific Spaces (kexue.fm) articles in PyTorch."""

__version__ = "0.1.0"
