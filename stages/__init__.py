"""Pipeline stages: each sub-package is one Pachyderm pipeline's program and image."""
