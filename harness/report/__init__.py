"""Reports: result directories → statistics → text, markdown, JSON, plots."""
