"""Continuous training: policies whose triggers retrain, gate and propose a canary."""
