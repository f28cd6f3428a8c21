"""Console scripts: thin argparse wrappers over the Python API."""
