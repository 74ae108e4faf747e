"""Code shared by every stage image: the data schema and atomic output writing."""
