"""Attacks on README's promises, one module per promise; each failed before its fix."""
