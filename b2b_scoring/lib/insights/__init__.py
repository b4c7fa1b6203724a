"""Insights beyond propensity (no Dagster inside): account intent, from third-party topics and
first-party research."""
