"""Notifications to families: drafts from templates, an idempotent outbox, and channels.

A message can only be drafted for sending after a confirmed identification, and the outbox holds at
most one message per (case, recipient); see docs/NOTIFY.md for the delivery guarantee.
"""
