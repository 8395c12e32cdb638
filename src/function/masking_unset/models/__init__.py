"""The bottom layer, with config and observability: the boundaries' models, the domain exceptions,
redaction, the JSON loader and the invocation's clock. Imports nothing above it."""
