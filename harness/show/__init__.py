"""Showing one trial: its record and its memory/CPU timeline, as text or a plot."""
