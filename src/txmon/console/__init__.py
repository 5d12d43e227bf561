"""What the command line prints for people: plain-text tables of the status, the episodes, the
alert log and the loads, and the progress of long work.

May import: `txmon.alerting` and the rooms below it.
"""
