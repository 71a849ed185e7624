"""``python -m langmem_tiered`` runs the command line (``demo``, ``health``)."""

from .cli import main

main()
