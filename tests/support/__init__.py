"""What only the tests need of the local stand-ins, kept out of the developer tooling."""
