"""Which Arrow memory pool a stage that reads the whole features table allocates from.

pyarrow's default pool (mimalloc in the wheels) hands the pages of a freed buffer back to the
system and faults them in again on the next allocation; reading the 8,049 features files of the
full dataset (26 M rows) into one table does that for every batch. jemalloc keeps them: train's
read took 3.0-3.5 s instead of 4.6-5.7 s, system time 2.1-2.2 s instead of 4.3-6.2 s and peak
memory 1.9 GB instead of 2.3 GB (docs/model.md, "Train's read"). ``ARROW_DEFAULT_MEMORY_POOL``
set by the user wins, as it does in pyarrow itself.
"""

from __future__ import annotations

import logging
import os

import pyarrow as pa

log = logging.getLogger(__name__)

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_jemalloc_pool() -> str:
    """Make jemalloc the process's default Arrow pool unless ``ARROW_DEFAULT_MEMORY_POOL`` names
    one, or this pyarrow build has none; returns the name of the pool in use."""
    if not os.environ.get(POOL_VARIABLE):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
            log.debug("pyarrow has no jemalloc pool; keeping %s", pa.default_memory_pool().backend_name)
    return pa.default_memory_pool().backend_name
