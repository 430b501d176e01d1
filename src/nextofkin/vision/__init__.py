"""Pixels to faces: image loading, detection, landmarks, alignment, quality and embedding.

This package imports nothing from the database or web layers, so it can run as a separate worker.
"""
