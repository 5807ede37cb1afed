"""Typed contracts between training, inference and the UI: what one side writes, another reads."""
