"""Developer and user tools around the pipeline: getting raw data, generating test data."""
