"""What the command line prints: tables and durations for people at a terminal.

May import: `txmon.alerting` and the rooms below it.
"""
