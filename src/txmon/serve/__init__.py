"""The monitoring API: app factory, routes, the auth and body-size middleware and the
response models.

May import: `txmon.console` and the rooms below it; not `txmon.ops`.
"""
