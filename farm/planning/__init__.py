"""Planning (pure): work units as frozen dataclasses, content keys, and variants -> segments."""
