"""One router per resource: predict, feedback, models, health, metrics."""
