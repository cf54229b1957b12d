"""The keras-zoo version (setup.cfg reads it; `zoo --version` and the v2 server metadata show it)."""

__version__ = "0.1.0"
