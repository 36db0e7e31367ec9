"""rackval: hardware-in-the-loop validation of AI server racks."""

__version__ = "0.1.0"
