"""``python -m chipdse``: the same as the ``chipdse`` command."""

from chipdse.cli import main

main()
