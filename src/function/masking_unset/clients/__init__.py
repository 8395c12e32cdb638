"""I/O: small clients around DeepCall and AWS, each taking its session or client by injection."""
