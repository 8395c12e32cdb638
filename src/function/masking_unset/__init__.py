"""Expire a DeepCall masking the moment its support ticket closes."""
