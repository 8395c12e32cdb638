"""Domain steps over the models, through the ports in :mod:`masking_unset.logic.ports`: no HTTP
answer, no AWS SDK (the import contracts in pyproject.toml keep it so)."""
