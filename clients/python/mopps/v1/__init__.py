"""Generated protobuf modules for the mopps.v1 wire contract (``make proto`` regenerates them)."""
