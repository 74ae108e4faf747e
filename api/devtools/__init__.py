"""Tools around the API for tests, the load test and the demo notebook (not part of the image)."""
