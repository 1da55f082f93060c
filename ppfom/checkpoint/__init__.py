"""Reading, converting and checking model weights."""
