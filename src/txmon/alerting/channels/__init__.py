"""The channels: one module per kind (stdout, jsonl, webhook, slack, teams, email, alertmanager,
pagerduty) behind the one `txmon.alerting.notification.Channel` protocol, what they share
(`base`, `http`) and the [[channels]] settings that build them (`config`).
"""
