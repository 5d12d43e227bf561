"""Running txmon for real: the always-on scheduler and the Superset installer.

May import: `txmon.console` and the rooms below it; not `txmon.serve`.
"""
