"""Measuring accuracy: verification and open-set identification metrics, the LFW and 1:N protocol
files, post-mortem degradations of probe photos, embedding caches and plots.

Nothing here touches the database: the evaluation runs the same vision and search code the product
uses, on protocol files, so that every published figure can be recomputed by anyone.
"""
