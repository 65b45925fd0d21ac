"""Result directories: the crash-safe trial log and the run manifest."""
