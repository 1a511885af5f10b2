"""The edit: the project file, the cuts read through OpenTimelineIO, the sampling rule in exact time."""
