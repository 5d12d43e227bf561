"""txmon: real-time monitoring of payment transactions on PostgreSQL and dbt."""

__version__ = "0.1.0"
