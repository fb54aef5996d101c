"""Session Spectator: user sessions from click events, kept in Redis."""
