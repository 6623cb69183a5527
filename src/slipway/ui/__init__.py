"""The web dashboard: server-rendered pages mounted on the control plane's FastAPI app."""
