"""Developer and user tools around the pipeline: getting raw data, generating test data, writing
the generated parts of docs/ (docgen)."""
