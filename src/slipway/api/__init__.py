"""The control plane's REST API: FastAPI over the metadata and artifact stores, with tokens."""
