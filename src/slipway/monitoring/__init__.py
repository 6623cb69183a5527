"""Production monitoring: drift statistics, reference profiles, windows, alerts."""
