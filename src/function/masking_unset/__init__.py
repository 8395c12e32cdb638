"""Expire a DeepCall masking the moment its support ticket closes."""

import os

# No pydantic plugin is used. Unless told otherwise, pydantic looks for plugins in the entry
# points of every installed distribution when it builds its first model: about 6 ms of each cold
# start. A value the environment already sets wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
