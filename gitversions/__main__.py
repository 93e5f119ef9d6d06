"""Allow ``python -m gitversions``."""

from .cli import main

main()
