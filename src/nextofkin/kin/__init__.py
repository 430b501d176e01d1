"""Kin: who appears with an identified person (joint photos, declared relatives, captions,
linked accounts), ranked with the evidence for each relation."""
