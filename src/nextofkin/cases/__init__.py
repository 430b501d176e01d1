"""Cases: post-mortem photos under chain of custody, searches, review and the case report.

``service`` opens cases and attaches searches, ``review`` records confirmations and rejections
under the policy in settings, ``report`` renders the case file as HTML or PDF.
"""
