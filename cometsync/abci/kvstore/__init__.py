"""CometBFT v0.38's example kvstore ABCI app: pure logic, storage, gRPC servicer and server."""
