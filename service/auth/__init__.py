"""Who may do what: victims by case number and PIN, platforms by API key, moderators by login."""
