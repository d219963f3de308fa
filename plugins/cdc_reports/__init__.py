"""The Reports plugin's code: where the hourly reports are read from, and the pages that show them."""
