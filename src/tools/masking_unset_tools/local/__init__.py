"""Local stand-ins for the tests, benchmarks and the demo: DeepCall and an AWS endpoint.

Nothing here is imported by the Lambda code path. The submodules are not re-exported so that
``python -m masking_unset_tools.local.deepcall_standin`` runs without a double-import warning and
importing this package never pulls in moto.
"""
