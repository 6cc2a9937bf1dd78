"""CometBFT's blocksync on channel 0x40: codec and pre-decode filter (sans-IO), the sync loop, the reactor.

`handoff.ConsensusHandoff` is blocksync's outbound interface: consensus engines implement it, so the arrow
points from `consensus` down to here and never back.
"""
