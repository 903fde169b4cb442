"""Training configurations, losses and loops."""
