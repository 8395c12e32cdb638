"""Developer tooling beside the Lambda package: the masking-unset command, its operations and the
local stand-ins. Never deployed: the function package is src/function/ alone."""
