"""Domain logic: pure functions and services over the models, free of HTTP and AWS details."""
