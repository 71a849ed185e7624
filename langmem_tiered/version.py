"""The package version, single-sourced for hatch and for ``langmem_tiered.__version__``."""

__version__ = "0.1.0"
