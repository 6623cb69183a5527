"""Deployment targets and rollout strategies: where and how model versions run."""
