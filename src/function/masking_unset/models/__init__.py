"""Pydantic models and domain exceptions shared by every layer."""
