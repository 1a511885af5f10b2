"""Looks: analyse a source against a reference, compose with the creative .cube, bake one LUT per source."""
