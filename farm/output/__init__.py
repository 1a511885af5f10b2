"""What a render leaves: the content-addressed cache, the atomic writer, reports, progress, metrics."""
