"""Session Spectator: user sessions from click events, kept in Redis."""

import warnings

# Google's client libraries warn at import that the grpcio Beam 2.70 pins is older than they will
# soon require; every command would print it.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
