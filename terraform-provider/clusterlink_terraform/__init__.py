"""Terraform provider for ClusterLink: a thin mapping onto the clusterlink.v1 gRPC API."""
