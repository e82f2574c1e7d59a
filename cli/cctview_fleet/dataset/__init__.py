"""Data sets read from S3: frames, sample indexes, shards, training sets."""
