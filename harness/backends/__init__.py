"""Where trials run: natively, or in a user-mode Linux guest."""
