"""Start a multi-worker training cluster on this machine (`zoo launch workers=N ...`)."""
