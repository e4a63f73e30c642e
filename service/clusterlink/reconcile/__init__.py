"""Reconcilers: converge running workers and clusters to the desired state in the store."""
