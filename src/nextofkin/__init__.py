"""nextofkin: identify unidentified dead people from photographs and help reach their families."""

__version__ = "0.1.0"
