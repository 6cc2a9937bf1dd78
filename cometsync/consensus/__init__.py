"""What takes over once blocksync is done: the engine plug-in contract, `follow`, `solo` and the producer."""
