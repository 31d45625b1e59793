"""TL Studio: transfer learning on images and text (core engine, desktop GUI, command line)."""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("tlstudio")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
