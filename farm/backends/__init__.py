"""Backends turn one segment description into one encoded segment: capabilities, choice, cpu, nvidia."""
