"""Search: probe faces to ranked candidate accounts, with calibrated decisions and evidence."""
