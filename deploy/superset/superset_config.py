"""Superset settings for txmon's compose deployment (imported from /app/pythonpath).

Secrets come from the environment only; Superset's own metadata (users, charts, dashboards)
is a SQLite file in the superset-home volume.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = "sqlite:////app/superset_home/superset.db?check_same_thread=false"
