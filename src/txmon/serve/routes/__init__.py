"""The API's routes, one router per concern: the monitoring views, a metric's minute series,
the Prometheus exposition, health, and the way in for transactions. `txmon.serve.app` includes
them.
"""
