"""The outside systems: each module here is the only one that talks to its system."""
