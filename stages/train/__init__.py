"""Train stage: the volume model, its metrics and losses, from the features output."""

import os

# LightGBM's OpenMP threads spin while they wait by default; when the machine is busier than
# its cores (other pipelines, warm workers) that spinning made a 2-thread fit 6x slower than a
# 1-thread one here. Passive waiting must be set before the OpenMP runtime loads, i.e. before
# lightgbm is imported, so it lives in the package's __init__.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
