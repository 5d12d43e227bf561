"""The bottom room: errors, where txmon keeps its files, the settings file and the facts every
other room shares (schema names, severities, episode ids).

May import: the standard library and third-party packages only.
"""
