"""The HTTP service: request models, dispatch to an execution backend, cache, metrics, auth."""
