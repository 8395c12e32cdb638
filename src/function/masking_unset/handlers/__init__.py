"""Lambda entry points: thin wrappers that translate AWS events and delegate to the logic."""
