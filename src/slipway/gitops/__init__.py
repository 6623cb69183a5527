"""GitOps: desired state in git, the reconcile loop (pull) and direct deploys (push)."""
