"""Real data through the service: converted, answered in the forms models write, scored."""
