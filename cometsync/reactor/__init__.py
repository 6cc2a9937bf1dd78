"""The blocksync reactor: wire codec and pre-decode filter (sans-IO); Twisted glue lives in submodules."""
