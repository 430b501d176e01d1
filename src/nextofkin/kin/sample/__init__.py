"""The sample gallery generator: a synthetic but realistic gallery export built from a face set.

See docs/SAMPLE_GALLERY.md for the layout it writes and the ground truth beside it.
"""
