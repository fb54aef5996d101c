"""Redis: the session store, its Lua scripts, and the Beam writers."""
