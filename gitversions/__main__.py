"""Allow ``python -m gitversions``."""

from gitversions.cli import main

main()
