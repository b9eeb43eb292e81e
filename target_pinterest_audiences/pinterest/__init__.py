"""Pinterest's v5 API as the target uses it: the HTTP client and the OAuth tokens."""
