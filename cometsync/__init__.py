"""cometsync: a CometBFT v0.38-compatible blocksync reactor on Twisted."""

__version__ = "0.1.0"
