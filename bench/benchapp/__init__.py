"""The benchmark's Django app: one model, a few views, one template."""
