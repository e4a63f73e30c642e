"""The mirroring engine: one worker per mirror topic moves records."""
