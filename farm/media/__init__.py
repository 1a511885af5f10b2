"""Media through PyAV: probe sources, sample frames, render audio, stitch segments; synthetic coded clips."""
