"""FastAPI: services opened in the lifespan, injected with Depends."""
