"""GPU clouds (and this machine) behind one small interface. Plain dataclasses in and out: no database, no UI."""
