"""The photo-animation pipeline: small stages (media, regions, smooth, animate) in a stream."""
