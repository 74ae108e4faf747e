"""Deploy stockpipe to Pachyderm with pachyderm-sdk: `python -m deploy --help`."""
