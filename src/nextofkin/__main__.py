"""``python -m nextofkin`` runs the command-line interface."""

from nextofkin.cli import main

main()
