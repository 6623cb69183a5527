"""One router per resource group, all mounted under ``/api/v1`` by :mod:`slipway.api.app`."""
